//! Live MQ sessions: kick a user's sessions; slow consumers highlighted.

use leptos::prelude::*;
use leptos_router::components::A;
use pulsemq_shared::dto::{Connection, DisconnectUser, Disconnected};

use crate::api;
use crate::i18n::t;
use crate::ui::{self, Load};

/// Asks, then ends every session of the connection's user (they may
/// reconnect while the user is active); `then` runs once the broker answered.
pub fn confirm_kick(c: &Connection, then: impl Fn() + Copy + Send + Sync + 'static) {
    let user_id = c.user_id;
    ui::confirm(format!("{} {}", t("conn.kick_title"), c.username), t("conn.kick_body"), "conn.kick", move || {
        let body = DisconnectUser { user_id };
        leptos::task::spawn_local(async move {
            match api::post::<_, Disconnected>("/api/connections/disconnect-user", &body).await {
                Ok(d) => ui::toast(true, format!("{}: {}", t("conn.kicked"), d.sessions)),
                Err(e) => ui::toast(false, e.to_string()),
            }
            then();
        });
    })
}

#[component]
pub fn Connections() -> impl IntoView {
    let list = RwSignal::new(Load::<Vec<Connection>>::Loading);
    let reload = move || {
        leptos::task::spawn_local(async move {
            let r = api::get::<Vec<Connection>>("/api/connections").await;
            // Keep the last good list on a transient failure of the auto-refresh.
            if !(r.is_err() && matches!(list.get_untracked(), Load::Ready(_))) {
                list.set(r.into());
            }
        })
    };
    reload();
    ui::every(3, reload);

    let kick = move |c: Connection| confirm_kick(&c, reload);

    view! {
        <div class="panel-head">
            <h1>{move || t("nav.connections")}</h1>
            <span class="muted">{move || t("conn.refresh")}</span>
        </div>
        <section class="panel">
            {ui::show(list, move |items: Vec<Connection>| {
                if items.is_empty() {
                    return view! { <ui::Empty text=Signal::derive(|| t("conn.none"))/> }.into_any();
                }
                let slow = items.iter().filter(|c| c.slow).count();
                view! {
                    <Show when=move || { slow > 0 }>
                        <div class="notice bad" style="margin-bottom:.75rem">{slow}" "{move || t("conn.slow_note")}" "<A href="/alarms">{move || t("conn.slow_link")}</A></div>
                    </Show>
                    <div class="table-wrap"><table id="connections">
                        <thead><tr>
                            <th>{move || t("col.user")}</th><th>{move || t("col.peer")}</th><th>{move || t("col.since")}</th>
                            <th>{move || t("col.subscriptions")}</th>
                            <th class="num">{move || t("col.in")}</th><th class="num">{move || t("col.out")}</th>
                            <th class="num">{move || t("col.drops")}</th><th>{move || t("col.status")}</th><th></th>
                        </tr></thead>
                        <tbody>
                            {items.into_iter().map(|c| {
                                let c2 = c.clone();
                                let subs = c.subscriptions.join(", ");
                                let name = c.username.clone();
                                view! {
                                    <tr class:slow=c.slow data-user=c.username.clone()>
                                        <td><A href=format!("/connections/{}", c.session)><strong>{name}</strong></A><div class="muted mono">{c.session.clone()}</div></td>
                                        <td class="mono">{c.peer_address.clone()}</td>
                                        <td>{ui::ago_ms(c.connected_since * 1000)}</td>
                                        <td class="wrap mono">{if subs.is_empty() { "—".to_string() } else { subs }}</td>
                                        <td class="num">{ui::num(c.msgs_in as f64)}<div class="muted">{ui::bytes(c.bytes_in as f64)}</div></td>
                                        <td class="num">{ui::num(c.msgs_out as f64)}<div class="muted">{ui::bytes(c.bytes_out as f64)}</div></td>
                                        <td class="num">{c.drops}</td>
                                        <td>{if c.slow {
                                            view! { <span class="badge warn">{move || t("conn.slow")}</span> }.into_any()
                                        } else if !c.subscriptions.is_empty() {
                                            view! { <span class="badge ok">{move || t("conn.subscriber")}</span> }.into_any()
                                        } else {
                                            view! { <span class="badge">{move || t("conn.online")}</span> }.into_any()
                                        }}</td>
                                        <td><div class="actions">
                                            <button class="danger small kick" on:click=move |_| kick(c2.clone())>{move || t("conn.kick")}</button>
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
