//! The login page: username and password of a console account.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use pulsemq_shared::dto::{LoginRequest, LoginResponse};

use crate::i18n::{t, LangToggle};
use crate::{api, charts, session, Session};

#[component]
pub fn LoginPage() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();

    // Already logged in (a valid cookie): straight to the dashboard.
    let nav = navigate.clone();
    Effect::new(move |_| {
        if matches!(session().get(), Session::User(_)) {
            nav("/", Default::default());
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req =
            LoginRequest { username: username.get_untracked().trim().to_owned(), password: password.get_untracked() };
        if req.username.is_empty() || req.password.is_empty() {
            error.set(Some(t("login.missing").into()));
            return;
        }
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match api::post::<_, LoginResponse>("/login", &req).await {
                Ok(r) => {
                    password.set(String::new());
                    session().set(Session::User(r.user));
                    navigate("/", Default::default());
                }
                Err(e) => {
                    let msg = match e.status {
                        401 => t("login.invalid").to_owned(),
                        403 => format!("{}: {}", t("login.forbidden"), e.message),
                        429 => e.message.clone(),
                        _ => e.to_string(),
                    };
                    error.set(Some(msg));
                }
            }
            busy.set(false);
        });
    };

    view! {
        <div class="login-page">
            <form class="login-box" on:submit=submit>
                <div class="row">
                    <div class="brand"><div class="logo">{charts::logo()}</div><span>"PulseMQ"</span></div>
                    <LangToggle/>
                </div>
                <h1>{move || t("login.title")}</h1>
                <div class="field">
                    <label for="username">{move || t("login.username")}</label>
                    <input id="username" name="username" autocomplete="username" autofocus
                        prop:value=username on:input=move |e| username.set(event_target_value(&e))/>
                </div>
                <div class="field">
                    <label for="password">{move || t("login.password")}</label>
                    <input id="password" name="password" type="password" autocomplete="current-password"
                        prop:value=password on:input=move |e| password.set(event_target_value(&e))/>
                </div>
                {move || error.get().map(|m| view! { <div class="notice bad" role="alert">{m}</div> })}
                <button type="submit" disabled=busy>
                    {move || if busy.get() { t("login.busy") } else { t("login.submit") }}
                </button>
            </form>
        </div>
    }
}
