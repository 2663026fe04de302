//! Topics: every registered topic with its live figures (rate, subscribers,
//! drops, last publish).

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_router::components::A;
use pulsemq_shared::dto::{Topic, TopicStats};

use super::publish::PublishForm;
use crate::api;
use crate::i18n::t;
use crate::ui::{self, Load};

#[derive(Clone, PartialEq)]
struct Row {
    namespace: String,
    name: String,
    stats: Option<TopicStats>,
}

async fn fetch() -> api::ApiResult<Vec<Row>> {
    let (topics, _) = api::get_page::<Topic>("/api/topics?limit=1000").await?;
    let stats = api::get::<Vec<TopicStats>>("/api/stats/topics").await?;
    let mut by_key: HashMap<(String, String), TopicStats> =
        stats.into_iter().map(|s| ((s.namespace.clone(), s.topic.clone()), s)).collect();
    let mut rows: Vec<Row> = topics
        .into_iter()
        .map(|tp| {
            let stats = by_key.remove(&(tp.namespace.clone(), tp.name.clone()));
            Row { namespace: tp.namespace, name: tp.name, stats }
        })
        .collect();
    // Live topics the registry does not list (yet).
    rows.extend(by_key.into_values().map(|s| Row {
        namespace: s.namespace.clone(),
        name: s.topic.clone(),
        stats: Some(s),
    }));
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(rows)
}

#[component]
pub fn Topics() -> impl IntoView {
    let list = RwSignal::new(Load::<Vec<Row>>::Loading);
    let reload = move || {
        leptos::task::spawn_local(async move {
            let r = fetch().await;
            if !(r.is_err() && matches!(list.get_untracked(), Load::Ready(_))) {
                list.set(r.into());
            }
        })
    };
    reload();
    ui::every(3, reload);
    let filter = RwSignal::new(String::new());

    view! {
        <div class="panel-head">
            <h1>{move || t("nav.topics")}</h1>
            <input id="topic-filter" placeholder=move || t("topics.filter") prop:value=filter
                on:input=move |e| filter.set(ui::value(&e))/>
        </div>
        <PublishForm on_published=move |_| reload()/>
        <section class="panel">
            {ui::show(list, move |items: Vec<Row>| {
                view! {
                    {move || {
                        let f = filter.get().to_lowercase();
                        let rows: Vec<Row> = items
                            .iter()
                            .filter(|r| f.is_empty() || format!("{}.{}", r.namespace, r.name).to_lowercase().contains(&f))
                            .cloned()
                            .collect();
                        if rows.is_empty() {
                            return view! { <ui::Empty text=Signal::derive(|| t("topics.none"))/> }.into_any();
                        }
                        view! {
                            <div class="table-wrap"><table id="topics">
                                <thead><tr>
                                    <th>{move || t("col.namespace")}</th><th>{move || t("col.topic")}</th>
                                    <th class="num">{move || t("col.rate")}</th><th class="num">{move || t("col.subscribers")}</th>
                                    <th class="num">{move || t("col.messages")}</th><th class="num">{move || t("col.drops")}</th>
                                    <th>{move || t("col.last_publish")}</th>
                                </tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|r| {
                                        let s = r.stats.clone().unwrap_or_default();
                                        view! {
                                            <tr>
                                                <td>{r.namespace.clone()}</td><td class="mono"><A href=super::topic_detail::href(&r.namespace, &r.name)>{r.name.clone()}</A></td>
                                                <td class="num">{ui::num(s.msg_rate)}</td>
                                                <td class="num">{s.subscribers}</td>
                                                <td class="num">{ui::num(s.msgs as f64)}</td>
                                                <td class="num">{s.drops}</td>
                                                <td title=ui::datetime_ms(s.last_publish_ms)>{ui::ago_ms(s.last_publish_ms)}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any()
                    }}
                }
            })}
        </section>
    }
}
