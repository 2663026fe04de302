//! Dashboard: live figures from the SSE stream (`/api/stats/stream`, one
//! snapshot a second, authenticated by the session cookie) drawn as charts,
//! and the busiest topics.

use std::collections::VecDeque;

use leptos::prelude::*;
use pulsemq_shared::dto::{SystemStats, TopicStats};
use send_wrapper::SendWrapper;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::api;
use crate::charts::{LineChart, Series};
use crate::i18n::t;
use crate::ui::{self, Load};

/// Points kept per chart: two minutes at one snapshot a second.
const CAP: usize = 120;

/// Opens the stats stream; every event is pushed into `history`. Closed
/// when the dashboard unmounts.
fn subscribe(history: RwSignal<VecDeque<SystemStats>>, live: RwSignal<bool>) {
    let Ok(es) = web_sys::EventSource::new("/api/stats/stream") else {
        return;
    };
    let on_stats = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
        let Some(text) = ev.data().as_string() else { return };
        if let Ok(s) = serde_json::from_str::<SystemStats>(&text) {
            live.set(true);
            history.update(|h| {
                if h.len() >= CAP {
                    h.pop_front();
                }
                h.push_back(s);
            });
        }
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        live.set(false);
        // The browser retries by itself; a 401 shows up in the next API call.
        leptos::task::spawn_local(async {
            let _ = api::get::<serde_json::Value>("/api/me").await;
        });
    });
    let _ = es.add_event_listener_with_callback("stats", on_stats.as_ref().unchecked_ref());
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let keep = SendWrapper::new((es, on_stats, on_error));
    on_cleanup(move || {
        let (es, _a, _b) = keep.take();
        es.close();
    });
}

thread_local! {
    /// Kept across page changes, so coming back to the dashboard shows the
    /// recent past (created outside any owner: see `main`).
    static HISTORY: RwSignal<VecDeque<SystemStats>> = RwSignal::new(VecDeque::with_capacity(CAP));
}

pub fn init_globals() {
    HISTORY.with(|_| ());
}

#[component]
pub fn Dashboard() -> impl IntoView {
    let history = HISTORY.with(|h| *h);
    // A gap of more than a few seconds (the dashboard was not open) would
    // draw a misleading straight line: start afresh instead.
    let stale = history.with_untracked(|h| h.back().is_none_or(|s| js_sys::Date::now() as i64 - s.at_ms > 5_000));
    if stale {
        history.update(VecDeque::clear);
    }
    let live = RwSignal::new(false);
    subscribe(history, live);

    let topics = RwSignal::new(Load::<Vec<TopicStats>>::Loading);
    let load_topics = move || {
        leptos::task::spawn_local(async move {
            let r = api::get::<Vec<TopicStats>>("/api/stats/topics").await;
            if !(r.is_err() && matches!(topics.get_untracked(), Load::Ready(_))) {
                topics.set(r.into());
            }
        })
    };
    load_topics();
    ui::every(2, load_topics);

    let latest = move || history.with(|h| h.back().cloned());
    let pick = move |f: fn(&SystemStats) -> f64| history.with(|h| h.iter().map(f).collect::<Vec<_>>());
    let one = move |label: &'static str, color: &'static str, f: fn(&SystemStats) -> f64| {
        Signal::derive(move || vec![Series { label, color, points: pick(f) }])
    };
    let card = move |key: &'static str, id: &'static str, f: fn(&SystemStats) -> String| {
        view! {
            <div class="card" id=id>
                <div class="label">{move || t(key)}</div>
                <div class="value">{move || latest().map(|s| f(&s)).unwrap_or_else(|| "—".into())}</div>
            </div>
        }
    };

    view! {
        <div class="panel-head">
            <h1>{move || t("nav.dashboard")}</h1>
            <span class="live" class:on=live>
                <i class="dot"></i>
                {move || if live.get() { t("dash.live") } else { t("dash.connecting") }}
            </span>
        </div>
        <div class="cards">
            {card("dash.msg_rate", "card-msg-rate", |s| ui::num(s.msg_rate))}
            {card("dash.byte_rate", "card-byte-rate", |s| format!("{}/s", ui::bytes(s.byte_rate)))}
            {card("dash.connections", "card-connections", |s| s.connections.to_string())}
            {card("dash.online_users", "card-users", |s| s.online_users.to_string())}
            {card("dash.drop_rate", "card-drops", |s| ui::num(s.drop_rate))}
            {card("dash.p99", "card-p99", |s| ui::micros(s.latency_p99_us as f64))}
            {card("dash.uptime", "card-uptime", |s| ui::duration(s.uptime_seconds))}
        </div>
        <div class="charts">
            <LineChart id="chart-msg-rate" title=Signal::derive(|| t("dash.msg_rate")) cap=CAP fmt=ui::num
                series=one("msg/s", "#2563eb", |s| s.msg_rate)/>
            <LineChart id="chart-byte-rate" title=Signal::derive(|| t("dash.byte_rate")) cap=CAP fmt=|v| format!("{}/s", ui::bytes(v))
                series=one("B/s", "#7c3aed", |s| s.byte_rate)/>
            <LineChart id="chart-connections" title=Signal::derive(|| t("dash.connections")) cap=CAP fmt=ui::num
                series=one("conn", "#0891b2", |s| s.connections as f64)/>
            <LineChart id="chart-drops" title=Signal::derive(|| t("dash.drop_rate")) cap=CAP fmt=ui::num
                series=one("drops/s", "#dc2626", |s| s.drop_rate)/>
            <LineChart id="chart-latency" title=Signal::derive(|| t("dash.latency")) cap=CAP fmt=ui::micros
                series=Signal::derive(move || vec![
                    Series { label: "p99", color: "#ea580c", points: pick(|s| s.latency_p99_us as f64) },
                    Series { label: "p50", color: "#16a34a", points: pick(|s| s.latency_p50_us as f64) },
                ])/>
        </div>
        <section class="panel">
            <div class="panel-head"><h2>{move || t("dash.top_topics")}</h2></div>
            {ui::show(topics, |list: Vec<TopicStats>| {
                let mut list = list;
                list.sort_by(|a, b| b.msg_rate.total_cmp(&a.msg_rate).then(b.msgs.cmp(&a.msgs)));
                list.truncate(10);
                if list.is_empty() {
                    return view! { <ui::Empty text=Signal::derive(|| t("dash.no_topics"))/> }.into_any();
                }
                view! {
                    <div class="table-wrap"><table id="top-topics">
                        <thead><tr>
                            <th>{move || t("col.namespace")}</th><th>{move || t("col.topic")}</th>
                            <th class="num">{move || t("col.rate")}</th><th class="num">{move || t("col.bytes_rate")}</th>
                            <th class="num">{move || t("col.subscribers")}</th><th class="num">{move || t("col.messages")}</th>
                            <th class="num">{move || t("col.drops")}</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|s| view! {
                                <tr>
                                    <td>{s.namespace}</td><td class="mono">{s.topic}</td>
                                    <td class="num">{ui::num(s.msg_rate)}</td>
                                    <td class="num">{format!("{}/s", ui::bytes(s.byte_rate))}</td>
                                    <td class="num">{s.subscribers}</td><td class="num">{ui::num(s.msgs as f64)}</td>
                                    <td class="num">{s.drops}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            })}
        </section>
    }
}
