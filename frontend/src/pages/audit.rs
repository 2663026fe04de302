//! The audit log: filters and paging (newest first).

use leptos::prelude::*;
use pulsemq_shared::dto::AuditEntry;

use crate::api;
use crate::i18n::t;
use crate::ui::{self, Load};

const PAGE: u64 = 25;
const OPS: [&str; 16] = [
    "login",
    "auth_failure",
    "create_namespace",
    "update_namespace",
    "delete_namespace",
    "grant",
    "change_role",
    "revoke",
    "create_user",
    "update_user",
    "delete_user",
    "reset_token",
    "disconnect_user",
    "change_password",
    "delete_topic",
    "logout",
];

#[component]
pub fn Audit() -> impl IntoView {
    let op = RwSignal::new(String::new());
    let operator = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let namespace = RwSignal::new(String::new());
    let offset = RwSignal::new(0u64);
    let list = RwSignal::new(Load::<(Vec<AuditEntry>, u64)>::Loading);

    let query = move || {
        let mut q = format!("/api/audit-logs?limit={PAGE}&offset={}", offset.get());
        for (k, v) in [("op_type", op), ("operator", operator), ("target", target), ("namespace", namespace)] {
            let v = v.get();
            if !v.trim().is_empty() {
                q.push_str(&format!("&{k}={}", api::enc(v.trim())));
            }
        }
        q
    };
    // Re-query whenever a filter or the page changes.
    Effect::new(move |_| {
        let q = query();
        list.set(Load::Loading);
        leptos::task::spawn_local(async move { list.set(api::get_page::<AuditEntry>(&q).await.into()) });
    });
    let filter_input = move |id: &'static str, key: &'static str, sig: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=id>{move || t(key)}</label>
                <input id=id prop:value=sig on:change=move |e| { offset.set(0); sig.set(ui::value(&e)); }/>
            </div>
        }
    };
    let total = move || match list.get() {
        Load::Ready((_, n)) => n,
        _ => 0,
    };

    view! {
        <h1>{move || t("nav.audit")}</h1>
        <section class="panel">
            <div class="toolbar" id="audit-filters">
                <div class="field">
                    <label for="audit-op">{move || t("col.op")}</label>
                    <select id="audit-op" prop:value=op on:change=move |e| { offset.set(0); op.set(ui::value(&e)); }>
                        <option value="">{move || t("audit.all")}</option>
                        {OPS.iter().map(|o| view! { <option value=*o>{*o}</option> }).collect_view()}
                    </select>
                </div>
                {filter_input("audit-operator", "col.operator", operator)}
                {filter_input("audit-target", "col.target", target)}
                {filter_input("audit-namespace", "col.namespace", namespace)}
                <button class="ghost" on:click=move |_| {
                    offset.set(0);
                    for s in [op, operator, target, namespace] { s.set(String::new()); }
                }>{move || t("audit.clear")}</button>
            </div>
        </section>
        <section class="panel">
            {ui::show(list, |(items, _): (Vec<AuditEntry>, u64)| {
                if items.is_empty() {
                    return view! { <ui::Empty text=Signal::derive(|| t("audit.none"))/> }.into_any();
                }
                view! {
                    <div class="table-wrap"><table id="audit">
                        <thead><tr>
                            <th>{move || t("col.time")}</th><th>{move || t("col.op")}</th><th>{move || t("col.operator")}</th>
                            <th>{move || t("col.target")}</th><th>{move || t("col.namespace")}</th><th>{move || t("col.change")}</th>
                        </tr></thead>
                        <tbody>
                            {items.into_iter().map(|a| {
                                let change = match (&a.old_value, &a.new_value) {
                                    (Some(o), Some(n)) => format!("{o} → {n}"),
                                    (None, Some(n)) => n.clone(),
                                    (Some(o), None) => format!("{o} → ∅"),
                                    (None, None) => String::new(),
                                };
                                let bad = matches!(a.op_type.as_str(), "auth_failure" | "delete_user" | "delete_namespace" | "revoke" | "disconnect_user");
                                view! {
                                    <tr data-op=a.op_type.clone()>
                                        <td class="muted">{a.created_at}</td>
                                        <td><span class=if bad { "badge warn" } else { "badge" }>{a.op_type.clone()}</span></td>
                                        <td>{a.operator}</td>
                                        <td>{a.target_type}": "<strong>{a.target}</strong></td>
                                        <td>{a.namespace.unwrap_or_default()}</td>
                                        <td class="wrap muted">{change}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            })}
            <div class="pager">
                <span id="audit-range">{move || {
                    let n = total();
                    if n == 0 { String::new() } else {
                        format!("{}–{} / {n}", offset.get() + 1, (offset.get() + PAGE).min(n))
                    }
                }}</span>
                <button class="ghost small" id="audit-prev" disabled=move || offset.get() == 0
                    on:click=move |_| offset.update(|o| *o = o.saturating_sub(PAGE))>{move || t("prev")}</button>
                <button class="ghost small" id="audit-next" disabled=move || { offset.get() + PAGE >= total() }
                    on:click=move |_| offset.update(|o| *o += PAGE)>{move || t("next")}</button>
            </div>
        </section>
    }
}
