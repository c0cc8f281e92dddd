auto_auth {
  method "jwt" {
    config = {
      path = "/var/run/token"
      role = "r"
      remove_jwt_after_reading = false
    }
  }
}

template {
  destination = "/vault/secrets/config.env"
  contents    = <<EOT
{{ with secret "kv/data/app" }}
export PASSWORD="{{ .Data.data.password }}" # ${HOME} stays literal
{{ end }}
EOT
  perms                = "0400"
  command              = "pkill -HUP app"
  error_on_missing_key = true
  wait {
    min = "2s"
    max = "10s"
  }
}

template {
  source           = "/vault/templates/cert.tpl"
  destination      = "/vault/secrets/cert.pem"
  left_delimiter   = "[["
  right_delimiter  = "]]"
  perms            = 0600
  backup           = true
  create_dest_dirs = false
  error_fatal      = false
  user             = "100"
  gid              = 1000
  sandbox_path     = "/vault/templates"
  function_denylist = ["file", "env*"]
  engine           = "handlebars"
  exec {
    command = ["/bin/touch", "/tmp/done"]
    timeout = "15s"
  }
}

template {
  contents    = "{{ env \"HOME\" }}"
  destination = "/vault/secrets/home"
  wait        = "5s:30s"
  command_timeout = "1m"
}
