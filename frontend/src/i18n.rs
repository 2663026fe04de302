//! English and Chinese text. The choice is kept in `localStorage`
//! (`pulsemq.lang`), so it survives reloads and later visits; the first
//! visit follows the browser's language.

use leptos::prelude::*;

const STORAGE_KEY: &str = "pulsemq.lang";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn initial() -> Lang {
    let stored = storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    let tag = stored.or_else(|| web_sys::window()?.navigator().language()).unwrap_or_default();
    if tag.starts_with("zh") {
        Lang::Zh
    } else {
        Lang::En
    }
}

thread_local! {
    static LANG: RwSignal<Lang> = RwSignal::new(initial());
}

pub fn lang() -> RwSignal<Lang> {
    LANG.with(|l| *l)
}

pub fn set_lang(l: Lang) {
    lang().set(l);
    if let Some(s) = storage() {
        let _ = s.set_item(STORAGE_KEY, if l == Lang::Zh { "zh" } else { "en" });
    }
    if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
        let _ = el.set_attribute("lang", if l == Lang::Zh { "zh-CN" } else { "en" });
    }
}

/// The text for `key` in the current language (tracked: use it inside a
/// reactive closure). An unknown key shows as itself.
pub fn t(key: &'static str) -> &'static str {
    let zh = lang().get() == Lang::Zh;
    match TEXT.binary_search_by(|(k, _, _)| k.cmp(&key)) {
        Ok(i) => {
            let (_, en, cn) = TEXT[i];
            if zh {
                cn
            } else {
                en
            }
        }
        Err(_) => key,
    }
}

/// The 中文 / English switch.
#[component]
pub fn LangToggle() -> impl IntoView {
    set_lang(lang().get_untracked());
    view! {
        <button type="button" class="lang" id="lang-toggle" title="Language / 语言"
            on:click=move |_| set_lang(if lang().get_untracked() == Lang::Zh { Lang::En } else { Lang::Zh })>
            {move || if lang().get() == Lang::Zh { "English" } else { "中文" }}
        </button>
    }
}

/// (key, English, Chinese), sorted by key (a test checks).
static TEXT: &[(&str, &str, &str)] = &[
    ("ago", "ago", "前"),
    ("alarm.active", "Active alarms", "当前告警"),
    ("alarm.active_now", "Active", "进行中"),
    ("alarm.cleared", "Cleared", "解除时间"),
    ("alarm.detail", "Detail", "详情"),
    ("alarm.history", "History", "历史"),
    ("alarm.kind", "Alarm", "告警"),
    ("alarm.kind.auth_failures", "Authentication failures", "认证失败"),
    ("alarm.kind.connection_limit", "Connection limit hits", "连接数超限"),
    ("alarm.kind.drops", "Dropped deliveries", "投递丢弃"),
    ("alarm.kind.other", "Other", "其他"),
    ("alarm.kind.slow_consumers", "Slow consumers", "慢消费者"),
    ("alarm.no_history", "No alarm has been raised yet.", "还没有触发过告警。"),
    ("alarm.no_slow", "No subscriber is falling behind.", "没有落后的订阅者。"),
    ("alarm.none", "No alarm is active.", "当前没有告警。"),
    ("alarm.off", "off", "关闭"),
    ("alarm.peak", "peak", "峰值"),
    ("alarm.raised", "Raised", "触发时间"),
    ("alarm.recent_drops", "Drops (window)", "窗口内丢弃"),
    ("alarm.since", "for", "已持续"),
    ("alarm.slow_consumers", "Slow consumers", "慢消费者"),
    ("alarm.th.window", "Window", "统计窗口"),
    (
        "alarm.th_help",
        "Set in the configuration file, section alarms; 0 switches an alarm off. An alarm clears once a whole window passed below its threshold.",
        "在配置文件的 alarms 部分设置；0 表示关闭该告警。整个窗口都低于阈值后告警解除。",
    ),
    ("alarm.threshold", "threshold", "阈值"),
    ("alarm.thresholds", "Thresholds", "阈值"),
    ("alarm.total", "total", "累计"),
    ("app.subtitle", "ZeroMQ message broker", "ZeroMQ 消息代理"),
    ("audit.all", "All operations", "全部操作"),
    ("audit.clear", "Clear filters", "清除筛选"),
    ("audit.none", "No audit entries match.", "没有匹配的审计记录。"),
    ("browse.bad_pattern", "1–3 levels; * is one level, > the rest", "1–3 级；* 匹配一级，> 匹配其余"),
    ("browse.clear", "Clear", "清空"),
    ("browse.filter", "Search kept messages…", "搜索已保留的消息…"),
    ("browse.held", "held while paused", "条暂停期间收到"),
    (
        "browse.help",
        "Messages are decoded by the broker by their format (JSON pretty-printed, DataFrames as tables, bytes in hex) and shown as they are published, with your account's own permissions (it needs the sub role in the namespace). The newest 200 are kept.",
        "消息由 Broker 按格式解码（JSON 格式化，DataFrame 显示为表格，字节显示为十六进制），发布即显示；使用你账号自己的权限（需要该命名空间的 sub 角色）。保留最新 200 条。",
    ),
    ("browse.idle", "Pick a namespace and a pattern, then Watch.", "选择命名空间和主题模式，然后点击“查看”。"),
    ("browse.kept", "kept", "条已保留"),
    ("browse.missed", "missed before:", "之前丢失："),
    ("browse.none", "No messages.", "没有消息。"),
    ("browse.pattern", "Pattern", "主题模式"),
    ("browse.pause", "Pause", "暂停"),
    (
        "browse.refused",
        "Stopped: the broker refused (check the names and your sub role) or went away.",
        "已停止：Broker 拒绝了请求（请检查名称和你的 sub 角色）或连接已断开。",
    ),
    ("browse.resume", "Resume", "继续"),
    ("browse.rows", "rows", "行"),
    ("browse.stop", "Stop", "停止"),
    ("browse.truncated", "preview cut", "预览已截断"),
    ("browse.waiting", "Waiting for messages…", "等待消息…"),
    ("browse.watch", "Watch", "查看"),
    ("browse.watching", "Watching", "正在查看"),
    ("cancel", "Cancel", "取消"),
    ("col.bytes_rate", "Bytes/s", "字节/秒"),
    ("col.change", "Change", "变更"),
    ("col.created_at", "Created", "创建时间"),
    ("col.created_by", "Created by", "创建者"),
    ("col.description", "Description", "描述"),
    ("col.drops", "Drops", "丢弃"),
    ("col.granted_by", "Granted by", "授权人"),
    ("col.in", "In", "接收"),
    ("col.last_publish", "Last publish", "最后发布"),
    ("col.messages", "Messages", "消息数"),
    ("col.name", "Name", "名称"),
    ("col.namespace", "Namespace", "命名空间"),
    ("col.op", "Operation", "操作"),
    ("col.operator", "Operator", "操作人"),
    ("col.out", "Out", "发送"),
    ("col.peer", "Peer", "对端地址"),
    ("col.rate", "Msg/s", "消息/秒"),
    ("col.role", "Role", "角色"),
    ("col.since", "Connected", "连接时长"),
    ("col.status", "Status", "状态"),
    ("col.subscribers", "Subscribers", "订阅者"),
    ("col.subscriptions", "Subscriptions", "订阅"),
    ("col.target", "Target", "对象"),
    ("col.time", "Time", "时间"),
    ("col.token", "Token", "令牌"),
    ("col.topic", "Topic", "主题"),
    ("col.type", "Type", "类型"),
    ("col.user", "User", "用户"),
    ("col.username", "Username", "用户名"),
    ("conn.kick", "Kick", "踢下线"),
    (
        "conn.kick_body",
        "All sessions of this user are closed now. The user can reconnect while the account stays active.",
        "该用户的所有会话将立即断开。账号保持启用时用户可以重新连接。",
    ),
    ("conn.kick_title", "Disconnect user", "断开用户"),
    ("conn.kicked", "Sessions closed", "已断开会话"),
    ("conn.none", "No client is connected.", "当前没有客户端连接。"),
    ("conn.online", "Connected", "在线"),
    ("conn.refresh", "Refreshes every 3 s", "每 3 秒刷新"),
    ("conn.slow", "Slow consumer", "慢消费者"),
    ("conn.slow_link", "See slow consumers and alarms", "查看慢消费者与告警"),
    (
        "conn.slow_note",
        "slow consumer(s): the broker is dropping messages for them.",
        "个慢消费者：代理正在为其丢弃消息。",
    ),
    ("conn.subscriber", "Subscriber", "订阅者"),
    ("create", "Create", "创建"),
    ("dash.byte_rate", "Bytes/s", "字节/秒"),
    ("dash.connecting", "Connecting…", "连接中…"),
    ("dash.connections", "Connections", "连接数"),
    ("dash.drop_rate", "Drops/s", "丢弃/秒"),
    ("dash.latency", "Latency (p50 / p99)", "延迟 (p50 / p99)"),
    ("dash.live", "Live", "实时"),
    ("dash.msg_rate", "Messages/s", "消息/秒"),
    ("dash.no_topics", "No message published since the broker started.", "代理启动以来还没有消息发布。"),
    ("dash.online_users", "Online users", "在线用户"),
    ("dash.p99", "Latency p99", "延迟 p99"),
    ("dash.top_topics", "Top topics", "热门主题"),
    ("dash.uptime", "Uptime", "运行时间"),
    ("delete", "Delete", "删除"),
    ("deleted", "Deleted", "已删除"),
    ("detail.delivered", "Delivered", "投递"),
    ("detail.drops_gaps", "Drops and gaps per sample", "每次采样的丢弃与缺口"),
    ("detail.drops_per_sample", "Drops per sample", "每次采样的丢弃"),
    ("detail.ended", "Ended", "已结束"),
    ("detail.gaps", "Gaps", "缺口"),
    ("detail.last_activity", "Last activity", "最近活动"),
    ("detail.msg_rate", "Messages/s", "消息/秒"),
    ("detail.no_samples", "No samples yet: the first arrives within one sampling interval.", "尚无采样：一个采样周期内会出现第一个。"),
    ("detail.no_subscribers", "No session subscribes to this topic.", "没有会话订阅此主题。"),
    ("detail.no_subscriptions", "No subscription.", "没有订阅。"),
    ("detail.patterns", "Matching patterns", "匹配的模式"),
    ("detail.pending", "Bytes waiting", "待投递字节"),
    ("detail.protocol", "protocol", "协议"),
    ("detail.published", "Published", "发布"),
    ("detail.quiet", "No traffic in the last minutes.", "最近几分钟没有流量。"),
    ("detail.sampled", "Sampled every", "采样间隔"),
    ("detail.seq", "Last sequence", "最新序号"),
    ("error.load", "Could not load", "加载失败"),
    ("loading", "Loading…", "加载中…"),
    ("login.busy", "Signing in…", "登录中…"),
    ("login.forbidden", "Access denied", "拒绝访问"),
    ("login.invalid", "Invalid username or password.", "用户名或密码错误。"),
    ("login.missing", "Enter username and password.", "请输入用户名和密码。"),
    ("login.password", "Password", "密码"),
    ("login.submit", "Sign in", "登录"),
    ("login.title", "Operations console", "运维控制台"),
    ("login.username", "Username", "用户名"),
    ("logout", "Log out", "退出登录"),
    ("nav.alarms", "Alarms", "告警"),
    ("nav.audit", "Audit log", "审计日志"),
    ("nav.browse", "Browse", "消息浏览"),
    ("nav.connections", "Connections", "连接"),
    ("nav.dashboard", "Dashboard", "仪表盘"),
    ("nav.namespaces", "Namespaces", "命名空间"),
    ("nav.password", "Password", "修改密码"),
    ("nav.topics", "Topics", "主题"),
    ("nav.users", "Users", "用户"),
    ("next", "Next", "下一页"),
    ("ns.create", "New namespace", "新建命名空间"),
    ("ns.created", "Namespace created:", "已创建命名空间："),
    (
        "ns.delete_body",
        "The namespace and all permissions on it are removed. Namespaces that still have topics cannot be deleted.",
        "将删除该命名空间及其全部权限。仍有主题的命名空间无法删除。",
    ),
    ("ns.delete_title", "Delete namespace", "删除命名空间"),
    ("ns.invalid", "1–32 characters: letters, digits, _", "1–32 个字符：字母、数字、下划线"),
    ("ns.none", "No namespace yet. Create the first one above.", "还没有命名空间，请在上方创建。"),
    ("ns.open", "Open", "打开"),
    ("ns.reserved", "\"system\" is reserved", "\"system\" 为保留名称"),
    ("perm.grant", "Grant", "授权"),
    ("perm.granted", "Granted", "已授权"),
    ("perm.none", "Nobody has access to this namespace yet.", "还没有用户拥有此命名空间的权限。"),
    ("perm.pick_user", "Choose a user", "选择用户"),
    ("perm.revoke", "Revoke", "撤销"),
    (
        "perm.revoke_body",
        "The user loses access at once; live subscriptions in this namespace end.",
        "用户将立即失去权限，该命名空间内的订阅会被终止。",
    ),
    ("perm.revoke_title", "Revoke access of", "撤销权限："),
    ("perm.revoked", "Access revoked", "权限已撤销"),
    ("perm.title", "Permissions", "权限"),
    ("perm.updated", "Role changed", "角色已修改"),
    ("prev", "Previous", "上一页"),
    ("publish.bad_namespace", "Letters, digits and _ (at most 32)", "字母、数字和 _（最多 32 个）"),
    ("publish.bad_topic", "1–3 levels of letters, digits and _, separated by .", "1–3 级，每级为字母、数字或 _，用 . 分隔"),
    ("publish.done", "Published", "已发布"),
    ("publish.format", "Format", "格式"),
    (
        "publish.help",
        "Sent through the broker's own checks in your account's name (it needs the pub role in the namespace) and recorded in the audit log. json is checked and sent as STRING; bytes takes hex.",
        "以你的账号名义经过 Broker 的全部检查后发送（需要该命名空间的 pub 角色），并记入审计日志。json 会先校验再以 STRING 发送；bytes 使用十六进制。",
    ),
    ("publish.payload", "Payload", "内容"),
    ("publish.send", "Publish", "发布"),
    ("publish.title", "Publish a test message", "发布测试消息"),
    ("pw.again", "Repeat new password", "再次输入新密码"),
    ("pw.changed", "Password changed.", "密码已修改。"),
    ("pw.mismatch", "The passwords differ", "两次输入的密码不一致"),
    ("pw.new", "New password", "新密码"),
    ("pw.old", "Current password", "当前密码"),
    ("pw.rule", "8–72 characters, not only spaces", "8–72 个字符，不能全为空格"),
    ("pw.submit", "Change password", "修改密码"),
    ("pw.wrong_old", "The current password is wrong.", "当前密码错误。"),
    ("save", "Save", "保存"),
    ("saved", "Saved", "已保存"),
    ("session.expired", "Your session ended. Please sign in again.", "会话已结束，请重新登录。"),
    ("token.copied", "Copied", "已复制"),
    ("token.copy", "Copy", "复制"),
    ("token.done", "I have saved it", "我已保存"),
    (
        "token.once",
        "This MQ token is shown only now. Copy it into the client's configuration; it cannot be displayed again (reset it if lost).",
        "此 MQ 令牌只显示这一次。请复制到客户端配置中，之后无法再次查看（丢失后可重置）。",
    ),
    ("token.title", "New token", "新令牌"),
    ("topics.filter", "Filter topics…", "筛选主题…"),
    ("topics.none", "No topics.", "没有主题。"),
    ("topics.total", "topics", "个主题"),
    ("user.activate", "Activate", "启用"),
    ("user.active", "Active", "启用"),
    ("user.create", "New user", "新建用户"),
    ("user.created", "User created:", "已创建用户："),
    ("user.deactivate", "Deactivate", "停用"),
    (
        "user.deactivate_body",
        "The user can no longer connect or log in; live sessions are closed.",
        "该用户将无法连接或登录，现有会话会被关闭。",
    ),
    ("user.deactivate_title", "Deactivate", "停用用户"),
    (
        "user.delete_body",
        "The user, its token and all its permissions are deleted. This cannot be undone.",
        "将删除该用户、其令牌及全部权限，且无法恢复。",
    ),
    ("user.delete_title", "Delete user", "删除用户"),
    ("user.inactive", "Inactive", "停用"),
    ("user.invalid", "1–64 characters: letters, digits, _ . -", "1–64 个字符：字母、数字、_ . -"),
    ("user.none", "No users.", "没有用户。"),
    ("user.reset", "Reset token", "重置令牌"),
    (
        "user.reset_body",
        "A new MQ token is issued and the old one stops working; live sessions are closed.",
        "将签发新的 MQ 令牌，旧令牌立即失效，现有会话会被关闭。",
    ),
    ("user.reset_title", "Reset the token of", "重置令牌："),
    ("user.total", "users", "个用户"),
    (
        "user.types_help",
        "mq_normal: publishes / subscribes where granted · mq_super: everywhere · admin_only: console only · super_admin: console and MQ",
        "mq_normal：按授权发布/订阅 · mq_super：所有命名空间 · admin_only：仅控制台 · super_admin：控制台和 MQ",
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn table_is_sorted_and_unique() {
        for w in super::TEXT.windows(2) {
            assert!(w[0].0 < w[1].0, "{} / {}", w[0].0, w[1].0);
        }
    }
}
