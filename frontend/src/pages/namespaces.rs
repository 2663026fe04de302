//! Namespaces: list / create / delete; one namespace's topics and
//! permissions (grant, change role, revoke).

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use pulsemq_shared::dto::{
    ChangeRole, CreateNamespace, GrantPermission, Namespace, Permission, PermissionChanged, StatusBody, Topic,
    UpdateNamespace, User,
};

use crate::api;
use crate::i18n::t;
use crate::ui::{self, Load};

pub const ROLES: [&str; 3] = ["sub", "pub", "admin"];

/// The API's rule, checked before sending: `^[A-Za-z0-9_]{1,32}$`, not `system`.
pub fn namespace_error(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return None;
    }
    match pulsemq_shared::validate_namespace(name) {
        Ok(()) => None,
        Err(pulsemq_shared::ProtocolError::ReservedNamespace) => Some("ns.reserved"),
        Err(_) => Some("ns.invalid"),
    }
}

#[component]
pub fn Namespaces() -> impl IntoView {
    let list = RwSignal::new(Load::<Vec<Namespace>>::Loading);
    let reload = move || {
        leptos::task::spawn_local(async move { list.set(api::get::<Vec<Namespace>>("/api/namespaces").await.into()) })
    };
    reload();

    let name = RwSignal::new(String::new());
    let desc = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let invalid = move || name.with(|n| namespace_error(n));
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked();
        if n.is_empty() || invalid().is_some() {
            return;
        }
        let body = CreateNamespace {
            name: n.clone(),
            description: Some(desc.get_untracked()).filter(|d| !d.trim().is_empty()),
            max_topics: None,
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::post::<_, Namespace>("/api/namespaces", &body).await {
                Ok(_) => {
                    ui::toast(true, format!("{} {n}", t("ns.created")));
                    name.set(String::new());
                    desc.set(String::new());
                    reload();
                }
                Err(e) => ui::toast(false, e.to_string()),
            }
            busy.set(false);
        });
    };

    let delete = move |ns: Namespace| {
        ui::confirm(format!("{} {}", t("ns.delete_title"), ns.name), t("ns.delete_body"), "delete", move || {
            let id = ns.id;
            leptos::task::spawn_local(async move {
                match api::delete::<StatusBody>(&format!("/api/namespaces/{id}")).await {
                    Ok(_) => {
                        ui::toast(true, t("deleted"));
                        reload();
                    }
                    Err(e) => ui::toast(false, e.to_string()),
                }
            });
        })
    };

    view! {
        <h1>{move || t("nav.namespaces")}</h1>
        <section class="panel">
            <h2>{move || t("ns.create")}</h2>
            <form class="inline" id="create-namespace" on:submit=create>
                <div class="field">
                    <label for="ns-name">{move || t("col.name")}</label>
                    <input id="ns-name" placeholder="market_data" class:invalid=move || invalid().is_some()
                        prop:value=name on:input=move |e| name.set(ui::value(&e))/>
                    <span class="hint">{move || invalid().map(t)}</span>
                </div>
                <div class="field" style="flex:1">
                    <label for="ns-desc">{move || t("col.description")}</label>
                    <input id="ns-desc" prop:value=desc on:input=move |e| desc.set(ui::value(&e))/>
                    <span class="hint"></span>
                </div>
                <div class="field">
                    <label>" "</label>
                    <button type="submit" disabled=move || busy.get() || name.with(|n| n.is_empty()) || invalid().is_some()>
                        {move || t("create")}
                    </button>
                    <span class="hint"></span>
                </div>
            </form>
        </section>
        <section class="panel">
            {ui::show(list, move |items: Vec<Namespace>| {
                if items.is_empty() {
                    return view! { <ui::Empty text=Signal::derive(|| t("ns.none"))/> }.into_any();
                }
                view! {
                    <div class="table-wrap"><table id="namespaces">
                        <thead><tr>
                            <th>{move || t("col.name")}</th><th>{move || t("col.description")}</th>
                            <th>{move || t("col.created_by")}</th><th>{move || t("col.created_at")}</th><th></th>
                        </tr></thead>
                        <tbody>
                            {items.into_iter().map(|ns| {
                                let href = format!("/namespaces/{}", ns.id);
                                let n2 = ns.clone();
                                let shown = ns.name.clone();
                                view! {
                                    <tr data-name=ns.name.clone()>
                                        <td><A href=href.clone()><strong>{shown}</strong></A></td>
                                        <td class="wrap">{ns.description.clone()}</td>
                                        <td>{ns.created_by.clone()}</td>
                                        <td>{ns.created_at.clone()}</td>
                                        <td><div class="actions">
                                            <A href=href><span class="badge">{move || t("ns.open")}</span></A>
                                            <button class="danger small" on:click=move |_| delete(n2.clone())>{move || t("delete")}</button>
                                        </div></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            })}
        </section>
    }
}

#[component]
pub fn NamespaceDetail() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let ns = RwSignal::new(Load::<Namespace>::Loading);
    let topics = RwSignal::new(Load::<(Vec<Topic>, u64)>::Loading);
    let perms = RwSignal::new(Load::<Vec<Permission>>::Loading);
    let users = RwSignal::new(Vec::<User>::new());

    let load_perms = move || {
        let id = id();
        leptos::task::spawn_local(async move {
            perms.set(api::get::<Vec<Permission>>(&format!("/api/namespaces/{id}/permissions")).await.into())
        })
    };
    Effect::new(move |_| {
        let id = id();
        leptos::task::spawn_local(async move {
            let r = api::get::<Namespace>(&format!("/api/namespaces/{id}")).await;
            if let Ok(n) = &r {
                let path = format!("/api/topics?limit=500&namespace={}", api::enc(&n.name));
                topics.set(api::get_page::<Topic>(&path).await.into());
            } else {
                topics.set(Load::Ready((vec![], 0)));
            }
            ns.set(r.into());
        });
        load_perms();
        leptos::task::spawn_local(async move {
            if let Ok((u, _)) = api::get_page::<User>("/api/users?limit=1000").await {
                users.set(u);
            }
        });
    });

    // Grant form.
    let grant_user = RwSignal::new(String::new());
    let grant_role = RwSignal::new("sub".to_string());
    let grant = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(user_id) = grant_user.get_untracked().parse::<i64>() else {
            ui::toast(false, t("perm.pick_user"));
            return;
        };
        let body = GrantPermission { user_id, role: Some(grant_role.get_untracked()) };
        let id = id();
        leptos::task::spawn_local(async move {
            match api::post::<_, PermissionChanged>(&format!("/api/namespaces/{id}/permissions"), &body).await {
                Ok(p) => {
                    ui::toast(
                        true,
                        format!("{}: {} → {}", t("perm.granted"), p.permission.username, p.permission.role),
                    );
                    grant_user.set(String::new());
                    load_perms();
                }
                Err(e) => ui::toast(false, e.to_string()),
            }
        });
    };
    let change_role = move |p: Permission, role: String| {
        let path = format!("/api/namespaces/{}/permissions/{}", p.namespace_id, p.user_id);
        leptos::task::spawn_local(async move {
            match api::put::<_, PermissionChanged>(&path, &ChangeRole { role }).await {
                Ok(c) => {
                    ui::toast(true, format!("{}: {} → {}", t("perm.updated"), c.permission.username, c.permission.role))
                }
                Err(e) => ui::toast(false, e.to_string()),
            }
            load_perms();
        });
    };
    let revoke = move |p: Permission| {
        ui::confirm(
            format!("{} {} @ {}", t("perm.revoke_title"), p.username, p.namespace),
            t("perm.revoke_body"),
            "perm.revoke",
            move || {
                let path = format!("/api/namespaces/{}/permissions/{}", p.namespace_id, p.user_id);
                leptos::task::spawn_local(async move {
                    match api::delete::<PermissionChanged>(&path).await {
                        Ok(_) => ui::toast(true, t("perm.revoked")),
                        Err(e) => ui::toast(false, e.to_string()),
                    }
                    load_perms();
                });
            },
        )
    };

    // Description edit.
    let desc = RwSignal::new(None::<String>);
    let save_desc = move |_| {
        let Some(d) = desc.get_untracked() else { return };
        let id = id();
        leptos::task::spawn_local(async move {
            match api::put::<_, Namespace>(
                &format!("/api/namespaces/{id}"),
                &UpdateNamespace { description: Some(d), max_topics: None },
            )
            .await
            {
                Ok(n) => {
                    ui::toast(true, t("saved"));
                    desc.set(None);
                    ns.set(Load::Ready(n));
                }
                Err(e) => ui::toast(false, e.to_string()),
            }
        });
    };

    view! {
        <div class="panel-head">
            <h1>
                <A href="/namespaces">{move || t("nav.namespaces")}</A>" / "
                {move || match ns.get() { Load::Ready(n) => n.name, _ => "…".into() }}
            </h1>
        </div>
        {ui::show(ns, move |n: Namespace| {
            let d0 = n.description.clone();
            view! {
                <section class="panel">
                    <form class="inline" on:submit=move |e| e.prevent_default()>
                        <div class="field" style="flex:1">
                            <label>{move || t("col.description")}</label>
                            <input prop:value=d0.clone() on:input=move |e| desc.set(Some(ui::value(&e)))/>
                        </div>
                        <button class="ghost" disabled=move || desc.with(|d| d.is_none()) on:click=save_desc>{move || t("save")}</button>
                    </form>
                    <p class="muted">{move || t("col.created_by")}": "{n.created_by.clone()}" · "{n.created_at.clone()}</p>
                </section>
            }
        })}
        <div class="grid2">
            <section class="panel">
                <h2>{move || t("perm.title")}</h2>
                <form class="inline" id="grant-form" on:submit=grant>
                    <div class="field" style="flex:1">
                        <label for="grant-user">{move || t("col.user")}</label>
                        <select id="grant-user" prop:value=grant_user on:change=move |e| grant_user.set(ui::value(&e))>
                            <option value="">{move || t("perm.pick_user")}</option>
                            {move || users.get().into_iter().filter(|u| u.user_type != "admin_only").map(|u| {
                                view! { <option value=u.id.to_string()>{u.username.clone()}" ("{u.user_type.clone()}")"</option> }
                            }).collect_view()}
                        </select>
                    </div>
                    <div class="field">
                        <label for="grant-role">{move || t("col.role")}</label>
                        <select id="grant-role" prop:value=grant_role on:change=move |e| grant_role.set(ui::value(&e))>
                            {ROLES.iter().map(|r| view! { <option value=*r>{*r}</option> }).collect_view()}
                        </select>
                    </div>
                    <button type="submit" disabled=move || grant_user.with(|u| u.is_empty())>{move || t("perm.grant")}</button>
                </form>
                <div style="margin-top:.75rem">
                {ui::show(perms, move |items: Vec<Permission>| {
                    if items.is_empty() {
                        return view! { <ui::Empty text=Signal::derive(|| t("perm.none"))/> }.into_any();
                    }
                    view! {
                        <div class="table-wrap"><table id="permissions">
                            <thead><tr>
                                <th>{move || t("col.user")}</th><th>{move || t("col.role")}</th>
                                <th>{move || t("col.granted_by")}</th><th></th>
                            </tr></thead>
                            <tbody>
                                {items.into_iter().map(|p| {
                                    let (p1, p2) = (p.clone(), p.clone());
                                    view! {
                                        <tr data-user=p.username.clone()>
                                            <td>{p.username.clone()}</td>
                                            <td>
                                                <select class="role" prop:value=p.role.clone()
                                                    on:change=move |e| change_role(p1.clone(), ui::value(&e))>
                                                    {ROLES.iter().map(|r| view! { <option value=*r selected=*r == p.role>{*r}</option> }).collect_view()}
                                                </select>
                                            </td>
                                            <td class="muted">{p.granted_by.clone()}</td>
                                            <td><div class="actions">
                                                <button class="danger small" on:click=move |_| revoke(p2.clone())>{move || t("perm.revoke")}</button>
                                            </div></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any()
                })}
                </div>
            </section>
            <section class="panel">
                <h2>{move || t("nav.topics")}</h2>
                {ui::show(topics, |(items, total): (Vec<Topic>, u64)| {
                    if items.is_empty() {
                        return view! { <ui::Empty text=Signal::derive(|| t("topics.none"))/> }.into_any();
                    }
                    view! {
                        <div class="table-wrap"><table id="ns-topics">
                            <thead><tr><th>{move || t("col.topic")}</th><th>{move || t("col.created_by")}</th><th>{move || t("col.created_at")}</th></tr></thead>
                            <tbody>
                                {items.into_iter().map(|tp| view! {
                                    <tr><td class="mono">{tp.name}</td><td>{tp.created_by}</td><td>{tp.created_at}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                        <p class="muted">{total}" "{move || t("topics.total")}</p>
                    }.into_any()
                })}
            </section>
        </div>
    }
}
