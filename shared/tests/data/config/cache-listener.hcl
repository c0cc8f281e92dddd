// agent.md §1.9, with concrete values.
auto_auth {
  method {
    type = "kubernetes"
    config = {
      role = "app"
    }
  }
}

cache {
  use_auto_auth_token = "force"
  persist "kubernetes" {
    path                       = "/vault/agent-cache"
    keep_after_import          = false
    exit_on_err                = true
    service_account_token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token"
  }
}

listener "tcp" {
  address                = "127.0.0.1:8200"
  tls_disable            = true
  require_request_header = false
  role                   = "default"
  agent_api {
    enable_quit = true
  }
}

listener "tcp" {
  address     = "127.0.0.1:8300"
  tls_disable = "true"
  role        = "metrics_only"
}

template_config {
  exit_on_retry_failure         = true
  static_secret_render_interval = "10m"
  max_connections_per_host      = 20
  lease_renewal_threshold       = 0.75
}

disable_idle_connections = ["auto-auth", "templating"]
disable_keep_alives      = ["caching"]

vault {
  address         = "https://vault.vault.svc:8200"
  tls_skip_verify = "true"
  retry {
    num_retries = -1
  }
}

telemetry {
  prometheus_retention_time = "24h"
  disable_hostname          = true
  dogstatsd_tags            = ["a:b", "c:d"]
}
