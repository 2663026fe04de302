//! Users: create (the MQ token is shown once), reset token, activate /
//! deactivate, delete.

use leptos::prelude::*;
use pulsemq_shared::dto::{self, CreateUser, CreatedUser, StatusBody, TokenBody, UpdateUser, User};

use crate::api;
use crate::i18n::t;
use crate::ui::{self, Load};

pub const TYPES: [&str; 4] = ["mq_normal", "mq_super", "admin_only", "super_admin"];

fn is_console(user_type: &str) -> bool {
    matches!(user_type, "super_admin" | "admin_only")
}

#[component]
pub fn Users() -> impl IntoView {
    let list = RwSignal::new(Load::<(Vec<User>, u64)>::Loading);
    let reload = move || {
        leptos::task::spawn_local(async move { list.set(api::get_page::<User>("/api/users?limit=1000").await.into()) })
    };
    reload();

    let name = RwSignal::new(String::new());
    let kind = RwSignal::new("mq_normal".to_string());
    let password = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let name_err =
        move || name.with(|n| (!n.is_empty() && dto::validate_username(n).is_err()).then_some("user.invalid"));
    let pw_err = move || {
        if !is_console(&kind.get()) {
            return None;
        }
        password.with(|p| (!p.is_empty() && dto::validate_password(p).is_err()).then_some("pw.rule"))
    };
    let can_submit = move || {
        !busy.get()
            && !name.with(String::is_empty)
            && name_err().is_none()
            && pw_err().is_none()
            && (!is_console(&kind.get()) || !password.with(String::is_empty))
    };
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !can_submit() {
            return;
        }
        let k = kind.get_untracked();
        let body = CreateUser {
            username: name.get_untracked(),
            password: is_console(&k).then(|| password.get_untracked()),
            user_type: Some(k),
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::post::<_, CreatedUser>("/api/users", &body).await {
                Ok(u) => {
                    name.set(String::new());
                    password.set(String::new());
                    match u.token {
                        Some(tok) => ui::show_token(u.username, tok),
                        None => ui::toast(true, format!("{} {}", t("user.created"), u.username)),
                    }
                    reload();
                }
                Err(e) => ui::toast(false, e.to_string()),
            }
            busy.set(false);
        });
    };

    let reset = move |u: User| {
        ui::confirm(
            format!("{} {}", t("user.reset_title"), u.username),
            t("user.reset_body"),
            "user.reset",
            move || {
                let (id, name) = (u.id, u.username.clone());
                leptos::task::spawn_local(async move {
                    match api::post_empty::<TokenBody>(&format!("/api/users/{id}/reset-token")).await {
                        Ok(b) => ui::show_token(name, b.token),
                        Err(e) => ui::toast(false, e.to_string()),
                    }
                    reload();
                });
            },
        )
    };
    let set_active = move |u: User, active: bool| {
        let run = move || {
            let id = u.id;
            leptos::task::spawn_local(async move {
                let body = UpdateUser { is_active: Some(active), user_type: None };
                match api::put::<_, User>(&format!("/api/users/{id}"), &body).await {
                    Ok(_) => ui::toast(true, t("saved")),
                    Err(e) => ui::toast(false, e.to_string()),
                }
                reload();
            });
        };
        if active {
            run();
        } else {
            ui::confirm(
                format!("{} {}", t("user.deactivate_title"), u.username),
                t("user.deactivate_body"),
                "user.deactivate",
                run,
            );
        }
    };
    let delete = move |u: User| {
        ui::confirm(format!("{} {}", t("user.delete_title"), u.username), t("user.delete_body"), "delete", move || {
            let id = u.id;
            leptos::task::spawn_local(async move {
                match api::delete::<StatusBody>(&format!("/api/users/{id}")).await {
                    Ok(_) => ui::toast(true, t("deleted")),
                    Err(e) => ui::toast(false, e.to_string()),
                }
                reload();
            });
        })
    };

    view! {
        <h1>{move || t("nav.users")}</h1>
        <section class="panel">
            <h2>{move || t("user.create")}</h2>
            <form class="inline" id="create-user" on:submit=create>
                <div class="field">
                    <label for="user-name">{move || t("col.username")}</label>
                    <input id="user-name" autocomplete="off" class:invalid=move || name_err().is_some()
                        prop:value=name on:input=move |e| name.set(ui::value(&e))/>
                    <span class="hint">{move || name_err().map(t)}</span>
                </div>
                <div class="field">
                    <label for="user-type">{move || t("col.type")}</label>
                    <select id="user-type" prop:value=kind on:change=move |e| kind.set(ui::value(&e))>
                        {TYPES.iter().map(|k| view! { <option value=*k>{*k}</option> }).collect_view()}
                    </select>
                    <span class="hint"></span>
                </div>
                <Show when=move || is_console(&kind.get())>
                    <div class="field">
                        <label for="user-password">{move || t("login.password")}</label>
                        <input id="user-password" type="password" autocomplete="new-password" class:invalid=move || pw_err().is_some()
                            prop:value=password on:input=move |e| password.set(ui::value(&e))/>
                        <span class="hint">{move || pw_err().map(t)}</span>
                    </div>
                </Show>
                <div class="field">
                    <label>" "</label>
                    <button type="submit" disabled=move || !can_submit()>{move || t("create")}</button>
                    <span class="hint"></span>
                </div>
            </form>
            <p class="muted">{move || t("user.types_help")}</p>
        </section>
        <section class="panel">
            {ui::show(list, move |(items, total): (Vec<User>, u64)| {
                if items.is_empty() {
                    return view! { <ui::Empty text=Signal::derive(|| t("user.none"))/> }.into_any();
                }
                view! {
                    <div class="table-wrap"><table id="users">
                        <thead><tr>
                            <th>{move || t("col.username")}</th><th>{move || t("col.type")}</th><th>{move || t("col.status")}</th>
                            <th>{move || t("col.token")}</th><th>{move || t("col.created_at")}</th><th></th>
                        </tr></thead>
                        <tbody>
                            {items.into_iter().map(|u| {
                                let (u1, u2, u3) = (u.clone(), u.clone(), u.clone());
                                let active = u.is_active;
                                let mq = !is_console(&u.user_type) || u.user_type == "super_admin";
                                view! {
                                    <tr data-user=u.username.clone()>
                                        <td><strong>{u.username.clone()}</strong></td>
                                        <td><span class="badge">{u.user_type.clone()}</span></td>
                                        <td><span class=if active { "badge ok" } else { "badge bad" }>
                                            {move || t(if active { "user.active" } else { "user.inactive" })}
                                        </span></td>
                                        <td>{if u.has_token { "✓" } else { "—" }}</td>
                                        <td>{u.created_at.clone()}</td>
                                        <td><div class="actions">
                                            <Show when=move || mq>
                                                <button class="ghost small reset-token" on:click={let u1 = u1.clone(); move |_| reset(u1.clone())}>{move || t("user.reset")}</button>
                                            </Show>
                                            <button class="ghost small toggle-active" on:click=move |_| set_active(u2.clone(), !active)>
                                                {move || if active { t("user.deactivate") } else { t("user.activate") }}
                                            </button>
                                            <button class="danger small delete-user" on:click=move |_| delete(u3.clone())>{move || t("delete")}</button>
                                        </div></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table></div>
                    <p class="muted">{total}" "{move || t("user.total")}</p>
                }.into_any()
            })}
        </section>
    }
}
