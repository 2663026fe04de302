//! One topic's drill-down (`/api/monitor/topic`): its rates, drops and
//! subscribers over the last minutes, and who is subscribed to it, with
//! each subscriber's backlog and drops (a link to the session's own page).

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use pulsemq_shared::dto::{TopicDetail as Detail, TopicSample};

use super::connection_detail::{Card, CHART_CAP};
use crate::api;
use crate::charts::{LineChart, Series};
use crate::i18n::t;
use crate::ui::{self, Load};

/// The console path of a topic's page.
pub fn href(namespace: &str, topic: &str) -> String {
    format!("/topic?namespace={}&topic={}", api::enc(namespace), api::enc(topic))
}

#[component]
pub fn TopicDetail() -> impl IntoView {
    let query = use_query_map();
    let names = move || query.with(|q| (q.get("namespace").unwrap_or_default(), q.get("topic").unwrap_or_default()));
    let detail = RwSignal::new(Load::<Detail>::Loading);
    let load = move || {
        let (ns, topic) = names();
        leptos::task::spawn_local(async move {
            let path = format!("/api/monitor/topic?namespace={}&topic={}", api::enc(&ns), api::enc(&topic));
            let r = api::get::<Detail>(&path).await;
            if !(r.is_err() && matches!(detail.get_untracked(), Load::Ready(_))) {
                detail.set(r.into());
            }
        })
    };
    Effect::new(move |_| load());
    ui::every(2, load);

    view! {
        <div class="panel-head">
            <h1>
                <A href="/topics" attr:class="crumb">{move || t("nav.topics")}</A>
                " / "{move || names().0}" / "<span class="mono">{move || names().1}</span>
            </h1>
        </div>
        {ui::show(detail, move |d: Detail| {
            let s = d.stats.clone();
            let samples = d.samples.clone();
            let pick = move |f: fn(&TopicSample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
            let rate = vec![Series { label: "msg/s", color: "#2563eb", points: pick(|s| s.msg_rate) }];
            let bytes = vec![Series { label: "B/s", color: "#7c3aed", points: pick(|s| s.byte_rate) }];
            let drops = vec![Series { label: "drops", color: "#dc2626", points: pick(|s| s.drops as f64) }];
            let subs = vec![Series { label: "subs", color: "#0891b2", points: pick(|s| s.subscribers as f64) }];
            let quiet = d.samples.is_empty();
            let subscribers = d.subscribers.clone();
            view! {
                <div class="cards" id="topic-detail">
                    <Card id="card-rate" key="col.rate" value=format!("{}/s", ui::num(s.msg_rate))/>
                    <Card id="card-bytes" key="dash.byte_rate" value=format!("{}/s", ui::bytes(s.byte_rate))/>
                    <Card id="card-subscribers" key="col.subscribers" value=s.subscribers.to_string()/>
                    <Card id="card-messages" key="col.messages" value=ui::num(s.msgs as f64)/>
                    <Card id="card-topic-drops" key="col.drops" value=ui::num(s.drops as f64)/>
                    <Card id="card-seq" key="detail.seq" value=s.seq.to_string()/>
                    <Card id="card-last" key="col.last_publish" value=ui::ago_ms(s.last_publish_ms)/>
                </div>
                {if quiet {
                    view! { <section class="panel"><ui::Empty text=Signal::derive(|| t("detail.quiet"))/></section> }.into_any()
                } else {
                    view! {
                        <div class="charts">
                            <LineChart id="chart-topic-rate" title=Signal::derive(|| t("detail.msg_rate")) cap=CHART_CAP fmt=ui::num series=Signal::stored(rate)/>
                            <LineChart id="chart-topic-bytes" title=Signal::derive(|| t("dash.byte_rate")) cap=CHART_CAP fmt=|v| format!("{}/s", ui::bytes(v)) series=Signal::stored(bytes)/>
                            <LineChart id="chart-topic-drops" title=Signal::derive(|| t("detail.drops_per_sample")) cap=CHART_CAP fmt=ui::num series=Signal::stored(drops)/>
                            <LineChart id="chart-topic-subs" title=Signal::derive(|| t("col.subscribers")) cap=CHART_CAP fmt=ui::num series=Signal::stored(subs)/>
                        </div>
                    }.into_any()
                }}
                <section class="panel">
                    <div class="panel-head"><h2>{move || t("col.subscribers")}</h2></div>
                    {if subscribers.is_empty() {
                        view! { <ui::Empty text=Signal::derive(|| t("detail.no_subscribers"))/> }.into_any()
                    } else {
                        view! {
                            <div class="table-wrap"><table id="topic-subscribers">
                                <thead><tr>
                                    <th>{move || t("col.user")}</th><th>{move || t("col.peer")}</th>
                                    <th>{move || t("detail.patterns")}</th>
                                    <th class="num">{move || t("detail.pending")}</th><th class="num">{move || t("col.drops")}</th>
                                    <th>{move || t("col.status")}</th>
                                </tr></thead>
                                <tbody>
                                    {subscribers.into_iter().map(|s| view! {
                                        <tr class:slow=s.slow>
                                            <td><A href=format!("/connections/{}", s.session)><strong>{s.username.clone()}</strong></A>
                                                <div class="muted mono">{s.session.clone()}</div></td>
                                            <td class="mono">{s.peer_address.clone()}</td>
                                            <td class="mono">{s.patterns.join(", ")}</td>
                                            <td class="num">{ui::bytes(s.pending_bytes as f64)}</td>
                                            <td class="num">{s.drops}</td>
                                            <td>{if s.slow {
                                                view! { <span class="badge warn">{move || t("conn.slow")}</span> }.into_any()
                                            } else {
                                                view! { <span class="badge ok">{move || t("conn.online")}</span> }.into_any()
                                            }}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any()
                    }}
                </section>
            }.into_any()
        })}
    }
}
