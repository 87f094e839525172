//! Parse-only newtypes and the `Identity` every verifier produces. A value of these types has
//! passed its syntax check, so code further down never re-validates a role ARN or an IdP id.

pub(crate) mod identity;
pub(crate) mod ids;
pub(crate) mod text;

pub use identity::{ClientKind, Identity};
pub use ids::{BadIdpId, BadRoleArn, IdpId, RoleArn};
