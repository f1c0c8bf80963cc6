//! Attachments per agenda item: the board's report, the treasurer's report — PDF files
//! uploaded by the chair or an admin, served only to those on the room's roster and admins
//! over the event's unit (docs/reports.md, *Attachments*).
//!
//! Stored in the plugin's organisation-wide data: what a file is under
//! `att/{room}/{id}`, its bytes (base64) under `attfile/{room}/{id}`, so listing the
//! attachments does not read the files.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use plenum_signalling::org_plugin::PluginError;
use plenum_signalling::serde::{Deserialize, Serialize};
use plenum_signalling::serde_json;
use plenum_signalling::storage::Store;

use crate::notes::NAMESPACE;
use crate::storage;

/// Largest attachment (bytes).
pub const MAX_SIZE: usize = 10 * 1024 * 1024;
/// Longest file name (characters).
pub const MAX_NAME: usize = 120;

/// One attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "plenum_signalling::serde")]
pub struct Attachment {
    /// `a0001`, … within the room.
    pub id: String,
    /// The agenda item (1-based), or none: the session as a whole.
    pub item: Option<usize>,
    /// The name it is offered under (ends in `.pdf`).
    pub name: String,
    /// Bytes.
    pub size: usize,
    /// SHA-256 of the file (hex).
    pub sha256: String,
    /// When (unix milliseconds).
    pub uploaded_at_ms: u64,
    /// By whom.
    pub uploaded_by: String,
    /// Their member number (empty once they are erased).
    #[serde(default)]
    pub uploaded_by_number: String,
}

fn meta_prefix(room: &str) -> String {
    format!("att/{room}/")
}

fn file_key(room: &str, id: &str) -> String {
    format!("attfile/{room}/{id}")
}

/// Is `bytes` a PDF file, by its content: the `%PDF-1.x` / `%PDF-2.x` header at the start
/// and an `%%EOF` marker in the last kilobyte (ISO 32000 §7.5.2, §7.5.5). The name and the
/// declared content type are not trusted.
pub fn is_pdf(bytes: &[u8]) -> bool {
    let header = bytes.len() >= 8
        && bytes.starts_with(b"%PDF-")
        && matches!(bytes[5], b'1' | b'2')
        && bytes[6] == b'.'
        && bytes[7].is_ascii_digit();
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    header && tail.windows(5).any(|w| w == b"%%EOF")
}

/// A file name to offer: the given one without any path, control characters or quotes,
/// ending in `.pdf`.
fn clean_name(name: &str) -> Result<String, PluginError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';'))
        .collect();
    let stem = cleaned
        .strip_suffix(".pdf")
        .or_else(|| cleaned.strip_suffix(".PDF"))
        .unwrap_or(&cleaned)
        .trim();
    if stem.is_empty() || stem.chars().count() > MAX_NAME {
        return Err(PluginError::new(
            "invalid",
            format!("a file name is 1–{MAX_NAME} characters"),
        ));
    }
    Ok(format!("{stem}.pdf"))
}

/// The stored entries under `prefix` (`att/` for all rooms), with their keys.
fn stored(store: &dyn Store, prefix: &str) -> Result<Vec<(String, Attachment)>, PluginError> {
    store
        .org_data(NAMESPACE, prefix)
        .map_err(storage)?
        .into_iter()
        .map(|(key, value)| {
            serde_json::from_str(&value)
                .map(|a| (key.clone(), a))
                .map_err(|_| PluginError::new("corrupt", format!("attachment {key}")))
        })
        .collect()
}

/// The attachments of `room`, by id.
pub fn list(store: &dyn Store, room: &str) -> Result<Vec<Attachment>, PluginError> {
    Ok(stored(store, &meta_prefix(room))?
        .into_iter()
        .map(|(_, a)| a)
        .collect())
}

/// Store `bytes` as an attachment of `room`. Refusals: `too_large`, `not_pdf`, `invalid`
/// (name), `unknown_item`; a refused upload stores nothing. The file is stored before its
/// entry, so a listed attachment always has its file.
#[allow(clippy::too_many_arguments)]
pub fn add(
    store: &dyn Store,
    room: &str,
    item: Option<usize>,
    items: usize,
    name: &str,
    bytes: &[u8],
    by: &plenum_signalling::org::Member,
    now_ms: u64,
) -> Result<Attachment, PluginError> {
    if bytes.len() > MAX_SIZE {
        return Err(PluginError::new(
            "too_large",
            format!("an attachment is at most {} MiB", MAX_SIZE / 1024 / 1024),
        ));
    }
    if !is_pdf(bytes) {
        return Err(PluginError::new(
            "not_pdf",
            "the file is not a PDF document",
        ));
    }
    let name = clean_name(name)?;
    if item.is_some_and(|i| i == 0 || i > items) {
        return Err(PluginError::new(
            "unknown_item",
            format!("the agenda has {items} items"),
        ));
    }
    use sha2::{Digest, Sha256};
    let sha256 = hex::encode(Sha256::digest(bytes));
    let mut n = store
        .org_data(NAMESPACE, &meta_prefix(room))
        .map_err(storage)?
        .len();
    loop {
        n += 1;
        let id = format!("a{n:04}");
        // Claim the id with the file; another upload racing for it tries the next.
        if !store
            .insert_org_data(NAMESPACE, &file_key(room, &id), &STANDARD.encode(bytes))
            .map_err(storage)?
        {
            continue;
        }
        let attachment = Attachment {
            id: id.clone(),
            item,
            name,
            size: bytes.len(),
            sha256,
            uploaded_at_ms: now_ms,
            uploaded_by: by.display_name(),
            uploaded_by_number: by.number.clone(),
        };
        let json = serde_json::to_string(&attachment)
            .map_err(|e| PluginError::new("invalid", e.to_string()))?;
        store
            .put_org_data(
                NAMESPACE,
                &format!("{}{id}", meta_prefix(room)),
                Some(&json),
            )
            .map_err(storage)?;
        return Ok(attachment);
    }
}

/// An attachment and its bytes (checked against its hash). Refusal: `not_found`.
pub fn file(store: &dyn Store, room: &str, id: &str) -> Result<(Attachment, Vec<u8>), PluginError> {
    let not_found = || PluginError::new("not_found", format!("no attachment {id:?}"));
    let meta = store
        .org_datum(NAMESPACE, &format!("{}{id}", meta_prefix(room)))
        .map_err(storage)?
        .ok_or_else(not_found)?;
    let meta: Attachment = serde_json::from_str(&meta)
        .map_err(|_| PluginError::new("corrupt", format!("attachment {id}")))?;
    let data = store
        .org_datum(NAMESPACE, &file_key(room, id))
        .map_err(storage)?
        .ok_or_else(not_found)?;
    let bytes = STANDARD
        .decode(data)
        .map_err(|_| PluginError::new("corrupt", format!("attachment {id}")))?;
    use sha2::{Digest, Sha256};
    if hex::encode(Sha256::digest(&bytes)) != meta.sha256 {
        return Err(PluginError::new(
            "corrupt",
            format!("attachment {id} does not match its hash"),
        ));
    }
    Ok((meta, bytes))
}

/// Member `number` is erased: the attachments they uploaded name `pseudonym` instead.
pub fn erase_member(store: &dyn Store, number: &str, pseudonym: &str) -> Result<(), PluginError> {
    for (key, mut a) in stored(store, "att/")? {
        if a.uploaded_by_number != number {
            continue;
        }
        a.uploaded_by = pseudonym.to_owned();
        a.uploaded_by_number.clear();
        let json =
            serde_json::to_string(&a).map_err(|e| PluginError::new("invalid", e.to_string()))?;
        store
            .put_org_data(NAMESPACE, &key, Some(&json))
            .map_err(storage)?;
    }
    Ok(())
}

/// The attachments member `number` uploaded (GDPR Art. 15): room, id, name.
pub fn export_member(
    store: &dyn Store,
    number: &str,
) -> Result<Vec<(String, String, String)>, PluginError> {
    Ok(stored(store, "att/")?
        .into_iter()
        .filter(|(_, a)| a.uploaded_by_number == number)
        .map(|(key, a)| {
            let room = key["att/".len()..]
                .rsplit_once('/')
                .map_or("", |(r, _)| r)
                .to_owned();
            (room, a.id, a.name)
        })
        .collect())
}

/// Delete an attachment (entry first, then file). Refusal: `not_found`.
pub fn delete(store: &dyn Store, room: &str, id: &str) -> Result<(), PluginError> {
    let key = format!("{}{id}", meta_prefix(room));
    if store.org_datum(NAMESPACE, &key).map_err(storage)?.is_none() {
        return Err(PluginError::new(
            "not_found",
            format!("no attachment {id:?}"),
        ));
    }
    store.put_org_data(NAMESPACE, &key, None).map_err(storage)?;
    store
        .put_org_data(NAMESPACE, &file_key(room, id), None)
        .map_err(storage)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use plenum_signalling::storage::SqliteStore;

    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

    #[test]
    fn only_pdf_content_within_the_limit_is_kept_and_comes_back_intact() {
        let store = SqliteStore::in_memory().unwrap();
        assert!(is_pdf(PDF));
        assert!(
            !is_pdf(b"<html>%PDF-1.7 %%EOF"),
            "the header must come first"
        );
        assert!(!is_pdf(b"%PDF-1.7\nno end marker"));
        assert!(!is_pdf(b"%PDF-"));
        let petra = plenum_signalling::org::Member {
            number: "1001".into(),
            first_name: "Petra".into(),
            last_name: "Partei".into(),
            unit: "bv".into(),
            email: None,
            phone: None,
            groups: Default::default(),
            visibility: None,
            status: plenum_signalling::org::MemberStatus::Active,
        };
        let add =
            |name: &str, item, bytes: &[u8]| add(&store, "bpt", item, 3, name, bytes, &petra, 5);
        assert_eq!(
            add("bericht.pdf", Some(1), b"MZ\x90\x00 not a pdf")
                .unwrap_err()
                .reason,
            "not_pdf"
        );
        let mut big = PDF.to_vec();
        big.resize(MAX_SIZE + 1, b' ');
        big.extend_from_slice(b"%%EOF");
        assert_eq!(
            add("gross.pdf", None, &big).unwrap_err().reason,
            "too_large"
        );
        assert_eq!(
            add("x.pdf", Some(4), PDF).unwrap_err().reason,
            "unknown_item"
        );
        assert_eq!(add("/.pdf", Some(1), PDF).unwrap_err().reason, "invalid");
        assert!(
            list(&store, "bpt").unwrap().is_empty(),
            "refusals store nothing"
        );

        let a = add("C:\\Berichte\\Kassenbericht \"2027\".PDF", Some(2), PDF).unwrap();
        assert_eq!(a.id, "a0001");
        assert_eq!(a.name, "Kassenbericht 2027.pdf");
        let b = add("rechenschaft.pdf", None, PDF).unwrap();
        assert_eq!(b.id, "a0002");
        assert_eq!(list(&store, "bpt").unwrap(), vec![a.clone(), b]);
        assert!(list(&store, "other").unwrap().is_empty());
        assert_eq!(file(&store, "bpt", "a0001").unwrap(), (a, PDF.to_vec()));
        delete(&store, "bpt", "a0001").unwrap();
        assert_eq!(
            file(&store, "bpt", "a0001").unwrap_err().reason,
            "not_found"
        );
        assert_eq!(
            delete(&store, "bpt", "a0001").unwrap_err().reason,
            "not_found"
        );
        // A new upload does not take a deleted id's place.
        assert_eq!(add("neu.pdf", None, PDF).unwrap().id, "a0003");
        // Erasure: the uploader is named by the pseudonym, the number is gone.
        assert_eq!(export_member(&store, "1001").unwrap().len(), 2);
        erase_member(&store, "1001", "Gelöschtes Mitglied 0a1b").unwrap();
        for a in list(&store, "bpt").unwrap() {
            assert_eq!(
                (a.uploaded_by.as_str(), a.uploaded_by_number.as_str()),
                ("Gelöschtes Mitglied 0a1b", "")
            );
        }
        assert!(export_member(&store, "1001").unwrap().is_empty());
    }
}
