pid_file = "/tmp/first.pid"
exit_after_auth = false

auto_auth {
  method "kubernetes" {
    config = {
      role = "first"
    }
  }
  sink "file" {
    config = {
      path = "/tmp/token"
    }
  }
}

template {
  contents    = "a"
  destination = "/tmp/a"
}

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}

disable_idle_connections = ["auto-auth"]
