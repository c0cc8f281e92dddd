//! vaultlet-injector: the mutating admission webhook that adds the agent to annotated pods.
