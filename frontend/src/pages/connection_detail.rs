//! One session's drill-down: its rates in and out, bytes waiting, drops and
//! gaps over the last minutes (`/api/monitor/connections/{session}`), its
//! subscriptions, and the kick button. A session that ended stays
//! inspectable for the sampling window, marked as ended.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use pulsemq_shared::dto::{ConnectionDetail as Detail, ConnectionSample};

use crate::api;
use crate::charts::{LineChart, Series};
use crate::i18n::t;
use crate::ui::{self, Load};

/// Points the chart width stands for (10 minutes at the default 5 s).
pub const CHART_CAP: usize = 240;

#[component]
pub fn ConnectionDetail() -> impl IntoView {
    let params = use_params_map();
    let session = move || params.with(|p| p.get("session").unwrap_or_default());
    let detail = RwSignal::new(Load::<Detail>::Loading);
    let load = move || {
        let id = session();
        leptos::task::spawn_local(async move {
            let r = api::get::<Detail>(&format!("/api/monitor/connections/{}", api::enc(&id))).await;
            if !(r.is_err() && matches!(detail.get_untracked(), Load::Ready(_))) {
                detail.set(r.into());
            }
        })
    };
    Effect::new(move |_| load());
    ui::every(2, load);

    let kick = move |d: Detail| super::connections::confirm_kick(&d.connection, load);

    view! {
        <div class="panel-head">
            <h1>
                <A href="/connections" attr:class="crumb">{move || t("nav.connections")}</A>
                " / "<span class="mono">{session}</span>
            </h1>
        </div>
        {ui::show(detail, move |d: Detail| {
            let c = d.connection.clone();
            let samples = d.samples.clone();
            let last = samples.last().cloned().unwrap_or_default();
            let pick = move |f: fn(&ConnectionSample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
            let mut msgs = vec![
                Series { label: "in", color: "#2563eb", points: pick(|s| s.msg_rate_in) },
                Series { label: "out", color: "#16a34a", points: pick(|s| s.msg_rate_out) },
            ];
            let mut bytes = vec![
                Series { label: "in", color: "#7c3aed", points: pick(|s| s.byte_rate_in) },
                Series { label: "out", color: "#0891b2", points: pick(|s| s.byte_rate_out) },
            ];
            // A chart's headline is its first series: the direction this
            // session mostly moves (a subscriber's is out).
            if last.msg_rate_out > last.msg_rate_in {
                msgs.reverse();
                bytes.reverse();
            }
            let pending = vec![Series { label: "B", color: "#ea580c", points: pick(|s| s.pending_bytes as f64) }];
            let drops = vec![
                Series { label: "drops", color: "#dc2626", points: pick(|s| s.drops as f64) },
                Series { label: "gaps", color: "#a16207", points: pick(|s| s.gaps as f64) },
            ];
            let empty = d.samples.is_empty();
            let online = d.online;
            let d2 = d.clone();
            let subs = c.subscriptions.clone();
            view! {
                <section class="panel detail-head" id="conn-detail">
                    <div>
                        <strong class="big">{c.username.clone()}</strong>" "
                        {if !online {
                            view! { <span class="badge bad" id="conn-state">{move || t("detail.ended")}</span> }.into_any()
                        } else if c.slow {
                            view! { <span class="badge warn" id="conn-state">{move || t("conn.slow")}</span> }.into_any()
                        } else {
                            view! { <span class="badge ok" id="conn-state">{move || t("conn.online")}</span> }.into_any()
                        }}
                        <div class="muted">
                            <span class="mono">{c.peer_address.clone()}</span>
                            " · "{move || t("detail.protocol")}" "{c.protocol}
                            " · "{move || t("col.since")}" "{ui::datetime_ms(c.connected_since * 1000)}
                        </div>
                    </div>
                    <Show when=move || online>
                        <button class="danger small kick" on:click={
                            let d2 = d2.clone();
                            move |_| kick(d2.clone())
                        }>{move || t("conn.kick")}</button>
                    </Show>
                </section>
                <div class="cards">
                    <Card id="card-in" key="detail.published" value=format!("{}/s", ui::num(last.msg_rate_in))/>
                    <Card id="card-out" key="detail.delivered" value=format!("{}/s", ui::num(last.msg_rate_out))/>
                    <Card id="card-pending" key="detail.pending" value=ui::bytes(c.pending_bytes as f64)/>
                    <Card id="card-drops" key="col.drops" value=ui::num(c.drops as f64)/>
                    <Card id="card-gaps" key="detail.gaps" value=ui::num(c.gaps as f64)/>
                    <Card id="card-activity" key="detail.last_activity" value=ui::ago_ms(c.last_activity_ms)/>
                </div>
                {if empty {
                    view! { <section class="panel"><ui::Empty text=Signal::derive(|| t("detail.no_samples"))/></section> }.into_any()
                } else {
                    view! {
                        <div class="charts">
                            <LineChart id="chart-conn-msgs" title=Signal::derive(|| t("detail.msg_rate")) cap=CHART_CAP fmt=ui::num series=Signal::stored(msgs)/>
                            <LineChart id="chart-conn-bytes" title=Signal::derive(|| t("dash.byte_rate")) cap=CHART_CAP fmt=|v| format!("{}/s", ui::bytes(v)) series=Signal::stored(bytes)/>
                            <LineChart id="chart-conn-pending" title=Signal::derive(|| t("detail.pending")) cap=CHART_CAP fmt=ui::bytes series=Signal::stored(pending)/>
                            <LineChart id="chart-conn-drops" title=Signal::derive(|| t("detail.drops_gaps")) cap=CHART_CAP fmt=ui::num series=Signal::stored(drops)/>
                        </div>
                    }.into_any()
                }}
                <section class="panel">
                    <div class="panel-head"><h2>{move || t("col.subscriptions")}</h2></div>
                    {if subs.is_empty() {
                        view! { <ui::Empty text=Signal::derive(|| t("detail.no_subscriptions"))/> }.into_any()
                    } else {
                        view! {
                            <ul class="chips" id="conn-subscriptions">
                                {subs.into_iter().map(|s| view! { <li class="mono">{s}</li> }).collect_view()}
                            </ul>
                        }.into_any()
                    }}
                    <p class="muted small">{move || t("detail.sampled")}" "{d.interval_sec}" s"</p>
                </section>
            }.into_any()
        })}
    }
}

/// A figure with its label.
#[component]
pub fn Card(id: &'static str, key: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="card" id=id>
            <div class="label">{move || t(key)}</div>
            <div class="value">{value}</div>
        </div>
    }
}
