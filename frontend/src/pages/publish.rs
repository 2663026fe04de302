//! "Publish a test message" on the topics page: one message through the
//! broker's own checks, in the logged-in account's name (`POST /api/publish`,
//! audited). The broker's refusal is shown as it words it.

use leptos::prelude::*;
use pulsemq_shared::dto::{Published, TestPublish};
use pulsemq_shared::{validate_namespace, validate_topic};

use crate::api;
use crate::i18n::t;
use crate::ui;

const FORMATS: [&str; 3] = ["string", "json", "bytes"];

#[component]
pub fn PublishForm(#[prop(into)] on_published: Callback<()>) -> impl IntoView {
    let namespace = RwSignal::new(String::new());
    let topic = RwSignal::new(String::new());
    let format = RwSignal::new("string".to_string());
    let payload = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let ns_err = move || {
        let n = namespace.get();
        (!n.is_empty() && validate_namespace(&n).is_err()).then_some("publish.bad_namespace")
    };
    let topic_err = move || {
        let tp = topic.get();
        (!tp.is_empty() && validate_topic(&tp).is_err()).then_some("publish.bad_topic")
    };
    let can_submit = move || {
        !busy.get()
            && !namespace.get().is_empty()
            && !topic.get().is_empty()
            && ns_err().is_none()
            && topic_err().is_none()
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !can_submit() {
            return;
        }
        let body = TestPublish {
            namespace: namespace.get_untracked(),
            topic: topic.get_untracked(),
            format: format.get_untracked(),
            payload: payload.get_untracked(),
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::post::<_, Published>("/api/publish", &body).await {
                Ok(p) => {
                    ui::toast(
                        true,
                        format!("{} {}:{} seq {} ({} B)", t("publish.done"), p.namespace, p.topic, p.seq, p.size),
                    );
                    on_published.run(());
                }
                Err(e) => ui::toast(false, e.to_string()),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="panel">
            <h2>{move || t("publish.title")}</h2>
            <form class="inline" id="publish-form" on:submit=submit>
                <div class="field">
                    <label for="publish-namespace">{move || t("col.namespace")}</label>
                    <input id="publish-namespace" autocomplete="off" class:invalid=move || ns_err().is_some()
                        prop:value=namespace on:input=move |e| namespace.set(ui::value(&e))/>
                    <span class="hint">{move || ns_err().map(t)}</span>
                </div>
                <div class="field">
                    <label for="publish-topic">{move || t("col.topic")}</label>
                    <input id="publish-topic" autocomplete="off" placeholder="sz000651.kline.1m" class:invalid=move || topic_err().is_some()
                        prop:value=topic on:input=move |e| topic.set(ui::value(&e))/>
                    <span class="hint">{move || topic_err().map(t)}</span>
                </div>
                <div class="field">
                    <label for="publish-format">{move || t("publish.format")}</label>
                    <select id="publish-format" prop:value=format on:change=move |e| format.set(ui::value(&e))>
                        {FORMATS.iter().map(|f| view! { <option value=*f>{*f}</option> }).collect_view()}
                    </select>
                    <span class="hint"></span>
                </div>
                <div class="field grow">
                    <label for="publish-payload">{move || t("publish.payload")}</label>
                    <textarea id="publish-payload" rows="2" prop:value=payload
                        placeholder=move || if format.get() == "bytes" { "de ad be ef".to_string() } else { "{\"close\": 10.55}".to_string() }
                        on:input=move |e| payload.set(ui::value(&e))></textarea>
                    <span class="hint"></span>
                </div>
                <div class="field">
                    <label>" "</label>
                    <button type="submit" disabled=move || !can_submit()>{move || t("publish.send")}</button>
                    <span class="hint"></span>
                </div>
            </form>
            <p class="muted">{move || t("publish.help")}</p>
        </section>
    }
}
