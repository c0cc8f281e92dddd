//! Merging several config files in order (agent.md §1.3): later non-empty blocks replace earlier
//! ones wholesale, lists of templates/listeners concatenate, booleans are OR-ed. Pure.

use super::model::AgentConfig;

fn later<T>(a: Option<T>, b: Option<T>) -> Option<T> {
    b.or(a)
}

fn later_nonempty(a: Option<String>, b: Option<String>) -> Option<String> {
    match b {
        Some(s) if !s.is_empty() => Some(s),
        _ => a,
    }
}

fn union(mut a: Vec<String>, b: Vec<String>) -> Vec<String> {
    for x in b {
        if !a.contains(&x) {
            a.push(x);
        }
    }
    a
}

impl AgentConfig {
    /// `self` merged with a later file `next` (upstream `Config.Merge`).
    pub fn merge(self, next: AgentConfig) -> AgentConfig {
        let mut templates = self.templates;
        templates.extend(next.templates);
        let mut listeners = self.listeners;
        listeners.extend(next.listeners);
        let mut env_templates = self.env_templates;
        env_templates.extend(next.env_templates);
        AgentConfig {
            auto_auth: later(self.auto_auth, next.auto_auth),
            exit_after_auth: self.exit_after_auth || next.exit_after_auth,
            pid_file: later_nonempty(self.pid_file, next.pid_file),
            vault: later(self.vault, next.vault),
            templates,
            listeners,
            cache: later(self.cache, next.cache),
            api_proxy: later(self.api_proxy, next.api_proxy),
            template_config: later(self.template_config, next.template_config),
            disable_idle_connections: union(
                self.disable_idle_connections,
                next.disable_idle_connections,
            ),
            disable_keep_alives: union(self.disable_keep_alives, next.disable_keep_alives),
            telemetry: later(self.telemetry, next.telemetry),
            log_level: later_nonempty(self.log_level, next.log_level),
            log_format: later_nonempty(self.log_format, next.log_format),
            log_file: later_nonempty(self.log_file, next.log_file),
            log_rotate_bytes: later(self.log_rotate_bytes, next.log_rotate_bytes),
            log_rotate_duration: later_nonempty(self.log_rotate_duration, next.log_rotate_duration),
            log_rotate_max_files: later(self.log_rotate_max_files, next.log_rotate_max_files),
            exec: later(self.exec, next.exec),
            env_templates,
        }
    }
}
