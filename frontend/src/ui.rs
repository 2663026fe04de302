//! Building blocks every page uses: loading / empty / error states, the
//! confirmation dialog, the shown-once token dialog, toasts, formatting.

use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;

use crate::api::ApiResult;
use crate::i18n::t;

// ------------------------------------------------------------ load states

/// A list or object as a page holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Load<T> {
    Loading,
    Ready(T),
    Failed(String),
}

impl<T> From<ApiResult<T>> for Load<T> {
    fn from(r: ApiResult<T>) -> Self {
        match r {
            Ok(v) => Load::Ready(v),
            Err(e) => Load::Failed(e.to_string()),
        }
    }
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <div class="state"><span class="spinner"></span>{move || t("loading")}</div> }
}

#[component]
pub fn Empty(#[prop(into)] text: Signal<&'static str>) -> impl IntoView {
    view! { <div class="state empty">{move || text.get()}</div> }
}

#[component]
pub fn ErrorState(message: String) -> impl IntoView {
    view! { <div class="state error" role="alert">{move || t("error.load")}": "{message.clone()}</div> }
}

/// Renders `load` with `ready` once it is there; `Loading` and `Failed` get
/// the common states.
pub fn show<T: Clone + Send + Sync + 'static, V: IntoView + 'static>(
    load: RwSignal<Load<T>>,
    ready: impl Fn(T) -> V + Send + Sync + 'static,
) -> impl IntoView {
    move || match load.get() {
        Load::Loading => view! { <Loading/> }.into_any(),
        Load::Failed(m) => view! { <ErrorState message=m/> }.into_any(),
        Load::Ready(v) => ready(v).into_view().into_any(),
    }
}

// ------------------------------------------------------------ toasts

thread_local! {
    static TOAST: RwSignal<Option<(bool, String, u64)>> = RwSignal::new(None);
    static CONFIRM: RwSignal<Option<ConfirmReq>> = RwSignal::new(None);
    static TOKEN: RwSignal<Option<(String, String)>> = RwSignal::new(None);
}

/// Creates the dialog / toast signals outside any owner (see `main`).
pub fn init_globals() {
    TOAST.with(|_| ());
    CONFIRM.with(|_| ());
    TOKEN.with(|_| ());
}

/// Shows a short message at the bottom right for a few seconds.
pub fn toast(ok: bool, msg: impl Into<String>) {
    let sig = TOAST.with(|s| *s);
    let id = js_sys::Date::now() as u64;
    sig.set(Some((ok, msg.into(), id)));
    set_timeout(
        move || {
            if matches!(sig.get_untracked(), Some((_, _, i)) if i == id) {
                sig.set(None);
            }
        },
        Duration::from_millis(if ok { 3500 } else { 7000 }),
    );
}

#[component]
pub fn Toast() -> impl IntoView {
    let sig = TOAST.with(|s| *s);
    move || {
        sig.get().map(|(ok, msg, _)| {
            let class = if ok { "notice toast ok" } else { "notice toast bad" };
            view! { <div class=class role="status" on:click=move |_| sig.set(None)>{msg}</div> }
        })
    }
}

// ------------------------------------------------------------ confirmation

#[derive(Clone)]
pub struct ConfirmReq {
    title: String,
    body: String,
    yes: &'static str,
    action: Arc<dyn Fn() + Send + Sync>,
}

impl PartialEq for ConfirmReq {
    fn eq(&self, o: &Self) -> bool {
        self.title == o.title && self.body == o.body
    }
}

/// Asks before a destructive action; `action` runs on "yes".
pub fn confirm(
    title: impl Into<String>,
    body: impl Into<String>,
    yes: &'static str,
    action: impl Fn() + Send + Sync + 'static,
) {
    CONFIRM.with(|s| s.set(Some(ConfirmReq { title: title.into(), body: body.into(), yes, action: Arc::new(action) })));
}

#[component]
pub fn ConfirmHost() -> impl IntoView {
    let sig = CONFIRM.with(|s| *s);
    move || {
        sig.get().map(|req| {
            let action = req.action.clone();
            let yes = move |_| {
                sig.set(None);
                action();
            };
            view! {
                <div class="overlay" on:click=move |_| sig.set(None)>
                    <div class="dialog" role="dialog" aria-modal="true" on:click=|e| e.stop_propagation()>
                        <h2>{req.title.clone()}</h2>
                        <p>{req.body.clone()}</p>
                        <div class="buttons">
                            <button class="ghost" on:click=move |_| sig.set(None)>{move || t("cancel")}</button>
                            <button class="danger solid" id="confirm-yes" on:click=yes>{move || t(req.yes)}</button>
                        </div>
                    </div>
                </div>
            }
        })
    }
}

// ------------------------------------------------------------ token, shown once

/// Shows a freshly issued MQ token until the operator closes the dialog.
pub fn show_token(username: String, token: String) {
    TOKEN.with(|s| s.set(Some((username, token))));
}

#[component]
pub fn TokenHost() -> impl IntoView {
    let sig = TOKEN.with(|s| *s);
    let copied = RwSignal::new(false);
    move || {
        sig.get().map(|(user, token)| {
            let tok = token.clone();
            let copy = move |_| {
                if let Some(w) = web_sys::window() {
                    let _ = w.navigator().clipboard().write_text(&tok);
                    copied.set(true);
                }
            };
            let close = move |_| {
                copied.set(false);
                sig.set(None);
            };
            view! {
                <div class="overlay">
                    <div class="dialog" role="dialog" aria-modal="true">
                        <h2>{move || t("token.title")}" · "{user.clone()}</h2>
                        <p>{move || t("token.once")}</p>
                        <div class="token">
                            <code id="new-token">{token.clone()}</code>
                            <button class="ghost small" id="copy-token" on:click=copy>
                                {move || if copied.get() { t("token.copied") } else { t("token.copy") }}
                            </button>
                        </div>
                        <div class="buttons">
                            <button id="token-done" on:click=close>{move || t("token.done")}</button>
                        </div>
                    </div>
                </div>
            }
        })
    }
}

// ------------------------------------------------------------ formatting

/// `1234.5` → `1.2k`, for rates and counts.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

pub fn bytes(v: f64) -> String {
    let a = v.abs();
    if a >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", v / (1024.0 * 1024.0 * 1024.0))
    } else if a >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", v / (1024.0 * 1024.0))
    } else if a >= 1024.0 {
        format!("{:.1} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

/// Microseconds, human-readable.
pub fn micros(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// Unix milliseconds as local date and time.
pub fn datetime_ms(ms: i64) -> String {
    if ms <= 0 {
        return "—".into();
    }
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    let p = |v: u32| format!("{v:02}");
    format!(
        "{}-{}-{} {}:{}:{}",
        d.get_full_year(),
        p(d.get_month() + 1),
        p(d.get_date()),
        p(d.get_hours()),
        p(d.get_minutes()),
        p(d.get_seconds())
    )
}

/// How long ago, from Unix milliseconds.
pub fn ago_ms(ms: i64) -> String {
    if ms <= 0 {
        return "—".into();
    }
    let secs = ((js_sys::Date::now() as i64 - ms) / 1000).max(0) as u64;
    format!("{} {}", duration(secs), t("ago"))
}

/// Reads an `<input>`'s value from its event.
pub fn value(ev: &leptos::ev::Event) -> String {
    event_target_value(ev)
}

/// Re-runs `f` every `secs` seconds while the calling component is mounted.
pub fn every(secs: u64, f: impl Fn() + 'static) {
    let handle = set_interval_with_handle(f, Duration::from_secs(secs)).ok();
    let handle = send_wrapper::SendWrapper::new(handle);
    on_cleanup(move || {
        if let Some(h) = handle.take() {
            h.clear();
        }
    });
}
