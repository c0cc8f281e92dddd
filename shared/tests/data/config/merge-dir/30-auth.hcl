auto_auth {
  method "jwt" {
    config = {
      path = "/tmp/jwt"
      role = "second"
    }
  }
  sink "file" {
    config = {
      path = "/tmp/token2"
    }
  }
}
