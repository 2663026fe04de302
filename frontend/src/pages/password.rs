//! Change the logged-in account's console password.

use leptos::prelude::*;
use pulsemq_shared::dto::{self, ChangePasswordRequest, StatusBody};

use crate::api;
use crate::i18n::t;
use crate::ui;

#[component]
pub fn ChangePassword() -> impl IntoView {
    let old = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let result = RwSignal::new(None::<(bool, String)>);
    let rule = move || new.with(|p| (!p.is_empty() && dto::validate_password(p).is_err()).then_some("pw.rule"));
    let mismatch = move || again.with(|a| !a.is_empty() && *a != new.get()).then_some("pw.mismatch");
    let ready = move || {
        !busy.get()
            && !old.with(String::is_empty)
            && !new.with(String::is_empty)
            && rule().is_none()
            && mismatch().is_none()
            && !again.with(String::is_empty)
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !ready() {
            return;
        }
        let body = ChangePasswordRequest { old_password: old.get_untracked(), new_password: new.get_untracked() };
        busy.set(true);
        result.set(None);
        leptos::task::spawn_local(async move {
            match api::put::<_, StatusBody>("/api/me/password", &body).await {
                Ok(_) => {
                    for s in [old, new, again] {
                        s.set(String::new());
                    }
                    result.set(Some((true, t("pw.changed").into())));
                }
                Err(e) if e.status == 401 => result.set(Some((false, t("pw.wrong_old").into()))),
                Err(e) => result.set(Some((false, e.to_string()))),
            }
            busy.set(false);
        });
    };
    let field = move |id: &'static str, key: &'static str, sig: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=id>{move || t(key)}</label>
                <input id=id type="password" prop:value=sig on:input=move |e| sig.set(ui::value(&e))/>
            </div>
        }
    };
    view! {
        <h1>{move || t("nav.password")}</h1>
        <section class="panel" style="max-width:28rem">
            <form id="password-form" style="display:flex;flex-direction:column;gap:.75rem" on:submit=submit>
                {field("pw-old", "pw.old", old)}
                <div class="field">
                    <label for="pw-new">{move || t("pw.new")}</label>
                    <input id="pw-new" type="password" autocomplete="new-password" class:invalid=move || rule().is_some()
                        prop:value=new on:input=move |e| new.set(ui::value(&e))/>
                    <span class="hint">{move || rule().map(t)}</span>
                </div>
                <div class="field">
                    <label for="pw-again">{move || t("pw.again")}</label>
                    <input id="pw-again" type="password" autocomplete="new-password" class:invalid=move || mismatch().is_some()
                        prop:value=again on:input=move |e| again.set(ui::value(&e))/>
                    <span class="hint">{move || mismatch().map(t)}</span>
                </div>
                {move || result.get().map(|(ok, m)| view! { <div class=if ok { "notice ok" } else { "notice bad" }>{m}</div> })}
                <button type="submit" disabled=move || !ready()>{move || t("pw.submit")}</button>
            </form>
        </section>
    }
}
