# agent.md §1.11
auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = "/etc/role-id"
      secret_id_file_path = "/etc/secret-id"
    }
  }
}

exec {
  command                   = ["app", "arg"]
  restart_on_secret_changes = "never"
  restart_stop_signal       = "SIGINT"
}

env_template "DB_PASSWORD" {
  contents             = "{{ with secret \"kv/data/db\" }}{{ .Data.data.password }}{{ end }}"
  error_on_missing_key = true
}

env_template "API_KEY" {
  source = "/etc/api-key.tpl"
}
