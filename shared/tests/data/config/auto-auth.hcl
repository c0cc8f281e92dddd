# agent.md §1.6, with concrete values.
pid_file = "/home/vault/.pid"

auto_auth {
  method "kubernetes" {
    mount_path  = "auth/kubernetes/"
    namespace   = "/team1"
    min_backoff = "1s"
    max_backoff = "5m"
    exit_on_err = false
    config = {
      role       = "app"
      token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    }
  }

  sink "file" {
    config = {
      path  = "/home/vault/.vault-token"
      mode  = 0640
      owner = 100
      group = 1000
    }
  }

  sink {
    type        = "file"
    wrap_ttl    = "5m"
    dh_type     = "curve25519"
    dh_path     = "/vault/dh.pub"
    derive_key  = true
    aad         = "extra"
    config {
      path = "/vault/secrets/token"
    }
  }
}
