//! The `vault.hashicorp.com/*` (and `openbao.org/*`) pod annotations: one table, value parsers,
//! secret discovery and the typed `AgentSpec` the injector mutates pods from (injector.md §1).

pub mod defaults;
pub mod known;
pub mod parse;
pub mod quantity;
pub mod reference;
pub mod spec;
pub mod table;

pub use defaults::{AgentFlavor, InjectorDefaults};
pub use quantity::{QuantityError, canonical_quantity};
pub use spec::{
    AgentSpec, Annotations, ContainerFacts, ENV_SETTING_KEYS, EnvVar, OPENBAO_PREFIX, PodFacts,
    QuantityAnnotation, Secret, SpecError, TemplateKind, VAULT_PREFIX, VolumeFacts, path_join,
};
pub use table::{ANNOTATIONS, AnnotationDef, DefaultFrom, ValueKind};
