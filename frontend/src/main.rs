//! PulseMQ operations console: a leptos (CSR) single-page app served by the
//! broker at `/` and talking only to its admin API (`api`).

mod api;
mod charts;
mod i18n;
mod pages;
mod ui;

use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes, A};
use leptos_router::hooks::use_navigate;
use leptos_router::path;
use pulsemq_shared::dto::SessionUser;

use i18n::t;

/// Where the login page lives (`/login` itself is the API's POST route).
pub const SIGN_IN: &str = "/signin";

/// Who is logged in: unknown until `/api/me` answered at start-up.
#[derive(Clone, Debug, PartialEq)]
pub enum Session {
    Checking,
    Anonymous,
    User(SessionUser),
}

thread_local! {
    static SESSION: RwSignal<Session> = RwSignal::new(Session::Checking);
}

pub fn session() -> RwSignal<Session> {
    SESSION.with(|s| *s)
}

/// Called by `api` on a 401: the cookie expired or was revoked.
pub fn session_expired() {
    let s = session();
    if matches!(s.get_untracked(), Session::User(_)) {
        ui::toast(false, t("session.expired"));
    }
    s.set(Session::Anonymous);
}

fn main() {
    console_error_panic_hook::set_once();
    // The app-wide signals live in thread-locals and are created lazily by
    // whoever reads them first. Create them here, outside any reactive owner,
    // so they are never disposed with the component that happened to be first.
    let _ = session();
    let _ = i18n::lang();
    ui::init_globals();
    pages::dashboard::init_globals();
    mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    leptos::task::spawn_local(async {
        let s = match api::get::<SessionUser>("/api/me").await {
            Ok(u) => Session::User(u),
            Err(_) => Session::Anonymous,
        };
        session().set(s);
    });
    view! {
        <Router>
            <Routes fallback=|| view! { <Redirect path="/"/> }>
                <Route path=path!("/signin") view=pages::login::LoginPage/>
                <Route path=path!("/") view=|| view! { <Shell><pages::dashboard::Dashboard/></Shell> }/>
                <Route path=path!("/namespaces") view=|| view! { <Shell><pages::namespaces::Namespaces/></Shell> }/>
                <Route path=path!("/namespaces/:id") view=|| view! { <Shell><pages::namespaces::NamespaceDetail/></Shell> }/>
                <Route path=path!("/users") view=|| view! { <Shell><pages::users::Users/></Shell> }/>
                <Route path=path!("/connections") view=|| view! { <Shell><pages::connections::Connections/></Shell> }/>
                <Route path=path!("/connections/:session") view=|| view! { <Shell><pages::connection_detail::ConnectionDetail/></Shell> }/>
                <Route path=path!("/topics") view=|| view! { <Shell><pages::topics::Topics/></Shell> }/>
                <Route path=path!("/topic") view=|| view! { <Shell><pages::topic_detail::TopicDetail/></Shell> }/>
                <Route path=path!("/alarms") view=|| view! { <Shell><pages::alarms::Alarms/></Shell> }/>
                <Route path=path!("/browse") view=|| view! { <Shell><pages::browse::Browse/></Shell> }/>
                <Route path=path!("/audit") view=|| view! { <Shell><pages::audit::Audit/></Shell> }/>
                <Route path=path!("/password") view=|| view! { <Shell><pages::password::ChangePassword/></Shell> }/>
            </Routes>
            <ui::Toast/>
            <ui::ConfirmHost/>
            <ui::TokenHost/>
        </Router>
    }
}

/// Sidebar, top bar and the page; sends anonymous visitors to the login page.
#[component]
fn Shell(children: ChildrenFn) -> impl IntoView {
    let navigate = use_navigate();
    Effect::new(move |_| {
        if session().get() == Session::Anonymous {
            navigate(SIGN_IN, Default::default());
        }
    });
    move || match session().get() {
        Session::User(user) => {
            let page = children.clone();
            view! { <Frame user=user>{page()}</Frame> }.into_any()
        }
        _ => view! { <div class="state"><span class="spinner"></span>{t("loading")}</div> }.into_any(),
    }
}

#[component]
fn Frame(user: SessionUser, children: Children) -> impl IntoView {
    let navigate = use_navigate();
    let logout = move |_| {
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let _ = api::post_empty::<serde_json::Value>("/logout").await;
            session().set(Session::Anonymous);
            navigate(SIGN_IN, Default::default());
        });
    };
    view! {
        <div class="shell">
            <aside class="side">
                <div class="brand"><div class="logo">{charts::logo()}</div><span>"PulseMQ"</span></div>
                <nav class="nav">
                    <A href="/" exact=true>{move || t("nav.dashboard")}</A>
                    <A href="/namespaces">{move || t("nav.namespaces")}</A>
                    <A href="/topics">{move || t("nav.topics")}</A>
                    <A href="/browse">{move || t("nav.browse")}</A>
                    <A href="/users">{move || t("nav.users")}</A>
                    <A href="/connections">{move || t("nav.connections")}</A>
                    <A href="/alarms">{move || t("nav.alarms")}<pages::alarms::AlarmBadge/></A>
                    <A href="/audit">{move || t("nav.audit")}</A>
                    <A href="/password">{move || t("nav.password")}</A>
                </nav>
                <div class="foot">{move || t("app.subtitle")}</div>
            </aside>
            <div class="main">
                <header class="top">
                    <i18n::LangToggle/>
                    <div class="who">
                        <span>{user.username.clone()}" · "<span class="badge">{user.user_type.clone()}</span></span>
                        <button class="ghost small" id="logout" on:click=logout>{move || t("logout")}</button>
                    </div>
                </header>
                <main class="content">{children()}</main>
            </div>
        </div>
    }
}
