//! The permission snapshot: users, token hashes, roles and namespaces as the
//! engine sees them.
//!
//! It is built from the database by `store::perms::load_snapshot` and handed
//! to the engine whole (an `Arc`), so the engine never waits on the database
//! and an admin change takes effect the moment the new snapshot arrives. The
//! periodic reload (`limits.cache_refresh_sec`) is only a safety net.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Account kinds, as in the original product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserType {
    /// Admin console and every MQ right.
    SuperAdmin,
    /// Every MQ right, no admin console.
    MqSuper,
    /// MQ rights per namespace role.
    MqNormal,
    /// Admin console only; may not open an MQ session.
    AdminOnly,
}

impl UserType {
    pub const ALL: [UserType; 4] = [UserType::SuperAdmin, UserType::MqSuper, UserType::MqNormal, UserType::AdminOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            UserType::SuperAdmin => "super_admin",
            UserType::MqSuper => "mq_super",
            UserType::MqNormal => "mq_normal",
            UserType::AdminOnly => "admin_only",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    /// Super users have every role in every namespace.
    pub fn is_mq_super(self) -> bool {
        matches!(self, UserType::SuperAdmin | UserType::MqSuper)
    }

    /// Console accounts: they log in with a password to the admin API.
    pub fn is_console(self) -> bool {
        matches!(self, UserType::SuperAdmin | UserType::AdminOnly)
    }
}

/// Per-namespace roles, ordered: `sub` < `pub` < `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Sub = 1,
    Pub = 2,
    Admin = 3,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Sub, Role::Pub, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sub => "sub",
            Role::Pub => "pub",
            Role::Admin => "admin",
        }
    }

    /// Case-insensitive; anything else is rejected (the original silently
    /// downgraded unknown roles to `sub`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str().eq_ignore_ascii_case(s))
    }
}

/// One user as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub id: i64,
    pub username: String,
    pub user_type: UserType,
    /// SHA-256 of the MQ token; `None` = the user has no token and cannot AUTH.
    pub token_hash: Option<[u8; 32]>,
    pub is_active: bool,
    /// Namespace name → role (only meaningful for `mq_normal`).
    pub roles: HashMap<String, Role>,
}

impl UserEntry {
    /// The role this user has in `namespace`, super users having `admin` everywhere.
    pub fn role_in(&self, namespace: &str) -> Option<Role> {
        if !self.is_active {
            return None;
        }
        match self.user_type {
            UserType::SuperAdmin | UserType::MqSuper => Some(Role::Admin),
            UserType::MqNormal => self.roles.get(namespace).copied(),
            UserType::AdminOnly => None,
        }
    }

    pub fn may(&self, namespace: &str, needed: Role) -> bool {
        self.role_in(namespace).is_some_and(|r| r >= needed)
    }
}

/// A namespace row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceEntry {
    pub id: i64,
    pub name: String,
    pub is_active: bool,
    /// Its own topic limit; `None`: `limits.max_topics_per_namespace`.
    pub max_topics: Option<usize>,
}

/// Everything the engine checks a request against; immutable once built.
#[derive(Debug, Clone, Default)]
pub struct PermSnapshot {
    pub users_by_name: HashMap<String, Arc<UserEntry>>,
    pub users_by_id: HashMap<i64, Arc<UserEntry>>,
    pub namespaces: BTreeMap<String, NamespaceEntry>,
}

impl PermSnapshot {
    /// Builds the lookup maps from plain lists.
    pub fn new(users: Vec<UserEntry>, namespaces: Vec<NamespaceEntry>) -> Self {
        let mut s = PermSnapshot::default();
        for u in users {
            let u = Arc::new(u);
            s.users_by_name.insert(u.username.clone(), u.clone());
            s.users_by_id.insert(u.id, u);
        }
        for n in namespaces {
            s.namespaces.insert(n.name.clone(), n);
        }
        s
    }

    pub fn user(&self, id: i64) -> Option<&Arc<UserEntry>> {
        self.users_by_id.get(&id)
    }
}
