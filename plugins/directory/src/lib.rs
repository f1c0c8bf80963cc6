//! The member directory: importing the member list ([`import`]), and (next) search,
//! profiles and privacy per member on the organisation model of `plenum_signalling::org`.
//!
//! [`import_members`] is the one entry point for an import: parse, compare with the stored
//! members, and apply in one transaction unless it is a dry run or the file has errors.

pub mod import;

use plenum_signalling::org::UnitTree;
use plenum_signalling::storage::{StorageError, Store};

pub use import::{Plan, RowError};

/// An import that could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The stored units are not a tree (see `UnitTree::new`).
    #[error("the organisation's units are inconsistent: {0}")]
    Units(String),
}

/// Import a member list into `store` for an admin of `scope`. With `dry_run`, or when the
/// file has any error, nothing changes; the returned plan says what would (or did) change.
pub fn import_members(
    store: &dyn Store,
    bytes: &[u8],
    scope: &str,
    dry_run: bool,
) -> Result<Plan, ImportError> {
    let units = UnitTree::new(&store.units()?).map_err(|e| ImportError::Units(e.to_string()))?;
    let parsed = import::parse(bytes, &units);
    let plan = import::plan(&parsed, &store.members()?, &units, scope);
    if !dry_run && plan.errors.is_empty() {
        let (upserts, left) = plan.to_apply();
        store.apply_members(&upserts, &left)?;
    }
    Ok(plan)
}
