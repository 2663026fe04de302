//! Live message browser: watch the messages of a namespace and pattern as
//! they are published, each decoded by its format (the broker does the
//! decoding: `GET /api/browse/stream`). Pause keeps what arrives for later,
//! the filter searches what is kept, the newest `KEEP` are kept.

use std::cell::RefCell;
use std::collections::VecDeque;

use leptos::prelude::*;
use pulsemq_shared::dto::{BrowsedMessage, Preview};
use pulsemq_shared::{validate_namespace, Pattern};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::api;
use crate::i18n::t;
use crate::ui;

/// Messages kept (newest first).
const KEEP: usize = 200;

type Listener = Closure<dyn FnMut(web_sys::MessageEvent)>;
type Handler = Closure<dyn FnMut(web_sys::Event)>;

thread_local! {
    /// The open stream and its callbacks (one browser page at a time).
    static STREAM: RefCell<Option<(web_sys::EventSource, Listener, Handler, Handler)>> = const { RefCell::new(None) };
}

fn close_stream() {
    STREAM.with(|s| {
        if let Some((es, ..)) = s.borrow_mut().take() {
            es.close();
        }
    });
}

#[derive(Clone, Copy, PartialEq)]
enum Status {
    Idle,
    Connecting,
    Watching,
    Refused,
}

fn keep(list: &mut VecDeque<BrowsedMessage>, m: BrowsedMessage) {
    list.push_front(m);
    list.truncate(KEEP);
}

fn searchable(m: &BrowsedMessage) -> String {
    let body = match &m.preview {
        Preview::Text { text } | Preview::Json { text } => text.clone(),
        Preview::Hex { hex } => hex.clone(),
        Preview::Table { columns, rows, .. } => format!("{} {}", columns.join(" "), rows.concat().join(" ")),
        Preview::Unreadable { error } => error.clone(),
    };
    format!("{} {} {}", m.topic, m.publisher, body).to_lowercase()
}

#[component]
pub fn Browse() -> impl IntoView {
    let namespace = RwSignal::new(String::new());
    let pattern = RwSignal::new(">".to_string());
    let status = RwSignal::new(Status::Idle);
    let watching = RwSignal::new(String::new());
    let messages = RwSignal::new(VecDeque::<BrowsedMessage>::new());
    let held = RwSignal::new(VecDeque::<BrowsedMessage>::new());
    let paused = RwSignal::new(false);
    let filter = RwSignal::new(String::new());
    on_cleanup(close_stream);

    let ns_err = move || {
        let n = namespace.get();
        (!n.is_empty() && validate_namespace(&n).is_err()).then_some("publish.bad_namespace")
    };
    let pattern_err = move || Pattern::parse(&pattern.get()).is_err().then_some("browse.bad_pattern");
    let can_watch = move || !namespace.get().is_empty() && ns_err().is_none() && pattern_err().is_none();

    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !can_watch() {
            return;
        }
        close_stream();
        let (ns, pat) = (namespace.get_untracked(), pattern.get_untracked());
        let url = format!("/api/browse/stream?namespace={}&pattern={}", api::enc(&ns), api::enc(&pat));
        let Ok(es) = web_sys::EventSource::new(&url) else {
            status.set(Status::Refused);
            return;
        };
        messages.set(VecDeque::new());
        held.set(VecDeque::new());
        paused.set(false);
        watching.set(format!("{ns}:{pat}"));
        status.set(Status::Connecting);
        let on_message = Listener::new(move |ev: web_sys::MessageEvent| {
            let Some(text) = ev.data().as_string() else { return };
            let Ok(m) = serde_json::from_str::<BrowsedMessage>(&text) else { return };
            status.set(Status::Watching);
            if paused.get_untracked() {
                held.update(|h| keep(h, m));
            } else {
                messages.update(|l| keep(l, m));
            }
        });
        let on_open = Handler::new(move |_| status.set(Status::Watching));
        let on_error = Handler::new(move |_| {
            // Refused (bad name, no sub role) or the broker went away: the
            // browser would retry forever; stop and say so.
            status.set(Status::Refused);
            close_stream();
            leptos::task::spawn_local(async {
                let _ = api::get::<serde_json::Value>("/api/me").await; // a lost login returns to sign-in
            });
        });
        let _ = es.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
        es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        STREAM.with(|s| *s.borrow_mut() = Some((es, on_message, on_open, on_error)));
    };
    let stop = move |_| {
        close_stream();
        status.set(Status::Idle);
    };
    let toggle_pause = move |_| {
        if paused.get_untracked() {
            let mut h = held.get_untracked();
            messages.update(|l| {
                while let Some(m) = h.pop_back() {
                    keep(l, m);
                }
            });
            held.set(VecDeque::new());
        }
        paused.update(|p| *p = !*p);
    };

    view! {
        <div class="panel-head">
            <h1>{move || t("nav.browse")}</h1>
        </div>
        <section class="panel">
            <form class="inline" id="browse-form" on:submit=start>
                <div class="field">
                    <label for="browse-namespace">{move || t("col.namespace")}</label>
                    <input id="browse-namespace" autocomplete="off" class:invalid=move || ns_err().is_some()
                        prop:value=namespace on:input=move |e| namespace.set(ui::value(&e))/>
                    <span class="hint">{move || ns_err().map(t)}</span>
                </div>
                <div class="field">
                    <label for="browse-pattern">{move || t("browse.pattern")}</label>
                    <input id="browse-pattern" autocomplete="off" placeholder="sz000651.>" class:invalid=move || pattern_err().is_some()
                        prop:value=pattern on:input=move |e| pattern.set(ui::value(&e))/>
                    <span class="hint">{move || pattern_err().map(t)}</span>
                </div>
                <div class="field">
                    <label>" "</label>
                    <button type="submit" id="browse-start" disabled=move || !can_watch()>{move || t("browse.watch")}</button>
                    <span class="hint"></span>
                </div>
            </form>
            <p class="muted">{move || t("browse.help")}</p>
        </section>
        <section class="panel" id="browser">
            <div class="toolbar">
                <span id="browse-status" class="muted">{move || match status.get() {
                    Status::Idle => t("browse.idle").to_string(),
                    Status::Connecting => t("loading").to_string(),
                    Status::Watching => format!("{} {} · {} {}", t("browse.watching"), watching.get(), messages.with(|m| m.len()), t("browse.kept")),
                    Status::Refused => t("browse.refused").to_string(),
                }}</span>
                <span class="grow"></span>
                <Show when=move || paused.get()>
                    <span id="browse-held" class="badge">{move || format!("{} {}", held.with(|h| h.len()), t("browse.held"))}</span>
                </Show>
                <input id="browse-filter" placeholder=move || t("browse.filter") prop:value=filter
                    on:input=move |e| filter.set(ui::value(&e))/>
                <button type="button" class="ghost" id="browse-pause" disabled=move || status.get() != Status::Watching
                    on:click=toggle_pause>{move || if paused.get() { t("browse.resume") } else { t("browse.pause") }}</button>
                <button type="button" class="ghost" id="browse-clear" on:click=move |_| messages.set(VecDeque::new())>{move || t("browse.clear")}</button>
                <button type="button" class="ghost" id="browse-stop" disabled=move || matches!(status.get(), Status::Idle | Status::Refused)
                    on:click=stop>{move || t("browse.stop")}</button>
            </div>
            {move || {
                let f = filter.get().to_lowercase();
                let shown: Vec<BrowsedMessage> =
                    messages.with(|l| l.iter().filter(|m| f.is_empty() || searchable(m).contains(&f)).cloned().collect());
                if status.get() == Status::Connecting {
                    return view! { <ui::Loading/> }.into_any();
                }
                if shown.is_empty() {
                    let text = if status.get() == Status::Watching { "browse.waiting" } else { "browse.none" };
                    return view! { <ui::Empty text=Signal::derive(move || t(text))/> }.into_any();
                }
                view! { <div id="browse-list">{shown.into_iter().map(card).collect_view()}</div> }.into_any()
            }}
        </section>
    }
}

fn card(m: BrowsedMessage) -> impl IntoView {
    let when = ui::datetime_ms(m.timestamp_ms);
    let meta = format!("{} · seq {} · {} · {}", m.publisher, m.seq, m.format, ui::bytes(m.size as f64));
    view! {
        <article class="message" data-topic=m.topic.clone()>
            <header>
                <span class="mono topic">{m.topic.clone()}</span>
                <span class="muted">{meta}</span>
                {m.compression.clone().map(|c| view! { <span class="badge">{c}</span> })}
                {m.truncated.then(|| view! { <span class="badge">{move || t("browse.truncated")}</span> })}
                {(m.missed_before > 0).then(|| {
                    let n = m.missed_before;
                    view! { <span class="badge warn">{move || format!("{} {n}", t("browse.missed"))}</span> }
                })}
                <span class="muted when" title=when.clone()>{when.clone()}</span>
            </header>
            {preview(m.preview)}
        </article>
    }
}

fn preview(p: Preview) -> AnyView {
    match p {
        Preview::Text { text } => view! { <pre class="payload text">{text}</pre> }.into_any(),
        Preview::Json { text } => view! { <pre class="payload json">{text}</pre> }.into_any(),
        Preview::Hex { hex } => view! { <pre class="payload hex">{hex}</pre> }.into_any(),
        Preview::Unreadable { error } => view! { <p class="payload muted">{error}</p> }.into_any(),
        Preview::Table { columns, rows, total_rows } => {
            let shown = rows.len();
            view! {
                <div class="table-wrap payload"><table class="frame">
                    <thead><tr>{columns.into_iter().map(|c| view! { <th>{c}</th> }).collect_view()}</tr></thead>
                    <tbody>{rows.into_iter().map(|r| view! {
                        <tr>{r.into_iter().map(|v| view! { <td class="mono">{v}</td> }).collect_view()}</tr>
                    }).collect_view()}</tbody>
                </table>
                <p class="muted">{move || format!("{shown} / {total_rows} {}", t("browse.rows"))}</p></div>
            }
            .into_any()
        }
    }
}
