//! Alarms and slow consumers (`/api/alarms`, `/api/monitor/slow-consumers`):
//! what is wrong now, who is falling behind, what went wrong before, and
//! the thresholds from the configuration that decide it.

use leptos::prelude::*;
use leptos_router::components::A;
use pulsemq_shared::dto::{Alarm, AlarmsView, SlowConsumer};

use crate::api;
use crate::i18n::t;
use crate::ui::{self, Load};

/// The translated name of an alarm kind.
pub fn kind_name(kind: &str) -> &'static str {
    match kind {
        "drops" => t("alarm.kind.drops"),
        "connection_limit" => t("alarm.kind.connection_limit"),
        "auth_failures" => t("alarm.kind.auth_failures"),
        "slow_consumers" => t("alarm.kind.slow_consumers"),
        _ => t("alarm.kind.other"),
    }
}

fn since(a: &Alarm) -> String {
    let end = a.cleared_ms.unwrap_or(js_sys::Date::now() as i64);
    ui::duration(((end - a.raised_ms) / 1000).max(0) as u64)
}

#[component]
pub fn Alarms() -> impl IntoView {
    let view_ = RwSignal::new(Load::<AlarmsView>::Loading);
    let slow = RwSignal::new(Load::<Vec<SlowConsumer>>::Loading);
    let load = move || {
        leptos::task::spawn_local(async move {
            let r = api::get::<AlarmsView>("/api/alarms").await;
            if !(r.is_err() && matches!(view_.get_untracked(), Load::Ready(_))) {
                view_.set(r.into());
            }
            let r = api::get::<Vec<SlowConsumer>>("/api/monitor/slow-consumers").await;
            if !(r.is_err() && matches!(slow.get_untracked(), Load::Ready(_))) {
                slow.set(r.into());
            }
        })
    };
    load();
    ui::every(3, load);

    view! {
        <div class="panel-head">
            <h1>{move || t("nav.alarms")}</h1>
            <span class="muted">{move || t("conn.refresh")}</span>
        </div>
        <section class="panel">
            <div class="panel-head"><h2>{move || t("alarm.active")}</h2></div>
            {ui::show(view_, |v: AlarmsView| {
                if v.active.is_empty() {
                    return view! { <div class="state empty ok-state" id="alarms-none">{move || t("alarm.none")}</div> }.into_any();
                }
                view! {
                    <div class="alarm-list" id="alarms-active">
                        {v.active.into_iter().map(|a| view! {
                            <div class="alarm" data-kind=a.kind.clone()>
                                <div class="alarm-head">
                                    <span class="badge bad">{let k = a.kind.clone(); move || kind_name(&k)}</span>
                                    <span class="muted">{move || t("alarm.since")}" "{since(&a)}</span>
                                    <span class="muted">{move || t("alarm.peak")}" "{ui::num(a.peak)}" / "{move || t("alarm.threshold")}" "{ui::num(a.threshold)}</span>
                                </div>
                                <div class="mono wrap small">{a.detail.clone()}</div>
                            </div>
                        }).collect_view()}
                    </div>
                }.into_any()
            })}
        </section>
        <section class="panel">
            <div class="panel-head"><h2>{move || t("alarm.slow_consumers")}</h2></div>
            {ui::show(slow, |list: Vec<SlowConsumer>| {
                if list.is_empty() {
                    return view! { <ui::Empty text=Signal::derive(|| t("alarm.no_slow"))/> }.into_any();
                }
                view! {
                    <div class="table-wrap"><table id="slow-consumers">
                        <thead><tr>
                            <th>{move || t("col.user")}</th><th>{move || t("col.peer")}</th>
                            <th>{move || t("col.subscriptions")}</th>
                            <th class="num">{move || t("detail.pending")}</th>
                            <th class="num">{move || t("alarm.recent_drops")}</th>
                            <th class="num">{move || t("detail.gaps")}</th>
                            <th class="num">{move || t("detail.delivered")}</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|c| view! {
                                <tr class="slow" data-session=c.session.clone()>
                                    <td><A href=format!("/connections/{}", c.session)><strong>{c.username.clone()}</strong></A>
                                        <div class="muted mono">{c.session.clone()}</div></td>
                                    <td class="mono">{c.peer_address.clone()}</td>
                                    <td class="wrap mono">{c.subscriptions.join(", ")}</td>
                                    <td class="num">{ui::bytes(c.pending_bytes as f64)}</td>
                                    <td class="num">{c.recent_drops}<div class="muted">{move || t("alarm.total")}" "{c.drops}</div></td>
                                    <td class="num">{c.recent_gaps}</td>
                                    <td class="num">{format!("{}/s", ui::num(c.msg_rate_out))}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            })}
        </section>
        <section class="panel">
            <div class="panel-head"><h2>{move || t("alarm.history")}</h2></div>
            {ui::show(view_, |v: AlarmsView| {
                if v.history.is_empty() {
                    return view! { <ui::Empty text=Signal::derive(|| t("alarm.no_history"))/> }.into_any();
                }
                view! {
                    <div class="table-wrap"><table id="alarm-history">
                        <thead><tr>
                            <th>{move || t("alarm.kind")}</th><th>{move || t("alarm.raised")}</th>
                            <th>{move || t("alarm.cleared")}</th><th class="num">{move || t("alarm.peak")}</th>
                            <th>{move || t("alarm.detail")}</th>
                        </tr></thead>
                        <tbody>
                            {v.history.into_iter().map(|a| view! {
                                <tr data-kind=a.kind.clone()>
                                    <td>{let k = a.kind.clone(); move || kind_name(&k)}</td>
                                    <td>{ui::datetime_ms(a.raised_ms)}</td>
                                    <td>{match a.cleared_ms {
                                        Some(c) => view! { <span>{ui::datetime_ms(c)}<div class="muted">{since(&a)}</div></span> }.into_any(),
                                        None => view! { <span class="badge bad">{move || t("alarm.active_now")}</span> }.into_any(),
                                    }}</td>
                                    <td class="num">{ui::num(a.peak)}" / "{ui::num(a.threshold)}</td>
                                    <td class="detail small">{a.detail.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            })}
        </section>
        <section class="panel">
            <div class="panel-head"><h2>{move || t("alarm.thresholds")}</h2></div>
            {ui::show(view_, |v: AlarmsView| {
                let th = v.thresholds;
                let off = |n: u64, s: String| if n == 0 { t("alarm.off").to_string() } else { s };
                let rows = [
                    ("alarms.window_sec", "alarm.th.window", format!("{} s", th.window_sec)),
                    ("alarms.drops", "alarm.kind.drops", off(th.drops, th.drops.to_string())),
                    ("alarms.connection_limit_hits", "alarm.kind.connection_limit", off(th.connection_limit_hits, th.connection_limit_hits.to_string())),
                    ("alarms.auth_failures", "alarm.kind.auth_failures", off(th.auth_failures, th.auth_failures.to_string())),
                    ("alarms.slow_consumer_bytes", "alarm.kind.slow_consumers", off(th.slow_consumer_bytes, ui::bytes(th.slow_consumer_bytes as f64))),
                ];
                view! {
                    <div class="table-wrap"><table id="alarm-thresholds">
                        <tbody>
                            {rows.into_iter().map(|(key, label, value)| view! {
                                <tr><td>{move || t(label)}</td><td class="mono">{key}</td><td class="num">{value}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                    <p class="muted small">{move || t("alarm.th_help")}</p>
                }
            })}
        </section>
    }
}

/// The count of active alarms beside the menu entry (polled every 5 s).
#[component]
pub fn AlarmBadge() -> impl IntoView {
    let active = RwSignal::new(0usize);
    let load = move || {
        leptos::task::spawn_local(async move {
            if let Ok(v) = api::get::<AlarmsView>("/api/alarms?limit=1").await {
                active.set(v.active.len());
            }
        })
    };
    load();
    ui::every(5, load);
    view! {
        <Show when=move || { active.get() > 0 }>
            <span class="badge bad nav-count" id="alarm-count">{move || active.get()}</span>
        </Show>
    }
}
