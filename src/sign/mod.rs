//! minisign keys and signatures, in the files the `minisign` command-line tool reads and writes.
//!
//! Signing uses the `minisign` crate (prehashed Ed25519, the tool's default); verification uses
//! `minisign-verify`, streaming. A key id is the key's 8-byte key number as 16 uppercase hex
//! digits, as `minisign` prints it.

use std::path::Path;

/// A problem with a key or a signature.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{what}: {message}")]
    Key { what: String, message: String },
    #[error("signature {what}: {message}")]
    Signature { what: String, message: String },
    #[error(
        "{what}: the signature does not verify with key {key_id}: the data was altered or signed by another key"
    )]
    Invalid { what: String, key_id: String },
    #[error("{what}: signed by key {found}, which is not trusted here (trusted: {trusted})")]
    UntrustedKey {
        what: String,
        found: String,
        trusted: String,
    },
    #[error(transparent)]
    Io(#[from] crate::fs::IoError),
}

/// A new key pair as file contents: `minisign.pub` and `minisign.key`.
pub struct NewKeys {
    pub public_file: String,
    pub secret_file: String,
    pub key_id: String,
    /// The base64 line of the public key (`RW...`), as registries list it.
    pub public_key: String,
}

fn key_id_of(keynum: &[u8]) -> String {
    let mut b = [0u8; 8];
    b.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(b))
}

/// Generates a key pair; the secret key is encrypted with `password` unless it is `None`.
pub fn generate(password: Option<&str>) -> Result<NewKeys, SignError> {
    let err = |e: minisign::PError| SignError::Key {
        what: "key generation".into(),
        message: e.to_string(),
    };
    let kp = match password {
        Some(p) => minisign::KeyPair::generate_encrypted_keypair(Some(p.to_string())),
        None => minisign::KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(err)?;
    let key_id = key_id_of(kp.pk.keynum());
    let public_key = kp.pk.to_base64();
    let public_file = kp.pk.to_box().map_err(err)?.into_string();
    let comment = if password.is_some() {
        "minisign encrypted secret key"
    } else {
        "minisign unencrypted secret key"
    };
    let secret_file = kp.sk.to_box(Some(comment)).map_err(err)?.into_string();
    Ok(NewKeys {
        public_file,
        secret_file,
        key_id,
        public_key,
    })
}

/// An unencrypted secret key whose checksum field is zero, as `minisign -G -W` (0.11) writes
/// it. Accepted only if the key signs a message that its own public key verifies.
fn unencrypted_without_checksum(text: &str) -> Option<minisign::SecretKey> {
    use base64::Engine;
    let line = text.lines().nth(1)?.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .ok()?;
    // sig_alg(2) kdf_alg(2) chk_alg(2) salt(32) ops(8) mem(8) keynum(8) sk(64) chk(32)
    if bytes.len() != 158 || bytes[2..4] != [0, 0] || bytes[126..].iter().any(|b| *b != 0) {
        return None;
    }
    let sk = minisign::SecretKey::from_bytes(&bytes).ok()?;
    let pk = minisign::PublicKey::from_secret_key(&sk).ok()?;
    let probe = b"ptd key self-test";
    let sig = minisign::sign(Some(&pk), &sk, std::io::Cursor::new(probe), Some("t"), None).ok()?;
    let key = TrustedKey::parse(&pk.to_base64()).ok()?;
    Signature::parse(&sig.into_string(), "self-test")
        .ok()?
        .verify(probe, &[key], "self-test")
        .ok()?;
    Some(sk)
}

/// A secret key ready to sign.
pub struct Signer {
    sk: minisign::SecretKey,
    pk: minisign::PublicKey,
    pub key_id: String,
}

impl Signer {
    /// Reads a secret key file (as written by `minisign -G` or [`generate`]).
    pub fn from_secret_file(
        text: &str,
        password: Option<&str>,
        what: &str,
    ) -> Result<Signer, SignError> {
        let err = |message: String| SignError::Key {
            what: what.to_string(),
            message,
        };
        let sk_box = minisign::SecretKeyBox::from_string(text)
            .map_err(|e| err(format!("not a minisign secret key: {e}")))?;
        let sk = match password {
            Some(p) => sk_box.into_secret_key(Some(p.to_string())),
            None => sk_box
                .into_unencrypted_secret_key()
                .or_else(|e| unencrypted_without_checksum(text).ok_or(e)),
        }
        .map_err(|e| {
            err(format!(
                "cannot open the secret key ({e}); an encrypted key needs its password (PTD_SIGNING_KEY_PASSWORD)"
            ))
        })?;
        let pk = minisign::PublicKey::from_secret_key(&sk).map_err(|e| err(e.to_string()))?;
        Ok(Signer {
            key_id: key_id_of(pk.keynum()),
            sk,
            pk,
        })
    }

    pub fn read(path: &Path, password: Option<&str>) -> Result<Signer, SignError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            SignError::Io(crate::fs::IoError {
                path: path.display().to_string(),
                source,
            })
        })?;
        Self::from_secret_file(&text, password, &path.display().to_string())
    }

    /// The base64 public key line.
    pub fn public_key(&self) -> String {
        self.pk.to_base64()
    }

    /// Signs `data`; returns the `.minisig` file contents.
    pub fn sign(&self, data: &[u8], trusted_comment: &str) -> Result<String, SignError> {
        let sig = minisign::sign(
            Some(&self.pk),
            &self.sk,
            std::io::Cursor::new(data),
            Some(trusted_comment),
            Some(&format!("signature from ptd secret key {}", self.key_id)),
        )
        .map_err(|e| SignError::Signature {
            what: "signing".into(),
            message: e.to_string(),
        })?;
        Ok(sig.into_string())
    }
}

/// A trusted public key.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    pub key_id: String,
    key: minisign_verify::PublicKey,
}

impl TrustedKey {
    /// From the base64 line (`RW...`) or a whole `.pub` file.
    pub fn parse(text: &str) -> Result<TrustedKey, SignError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or("");
        let err = |message: String| SignError::Key {
            what: format!("public key '{line}'"),
            message,
        };
        let key = minisign_verify::PublicKey::from_base64(line).map_err(|e| err(e.to_string()))?;
        let id = minisign::PublicKey::from_base64(line).map_err(|e| err(e.to_string()))?;
        Ok(TrustedKey {
            key_id: key_id_of(id.keynum()),
            key,
        })
    }
}

/// A parsed signature.
pub struct Signature {
    sig: minisign_verify::Signature,
    pub key_id: String,
    /// Made in minisign's legacy format (algorithm `Ed`: the data itself signed, not its
    /// BLAKE2b hash), which is not accepted.
    legacy: bool,
}

impl Signature {
    pub fn parse(text: &str, what: &str) -> Result<Signature, SignError> {
        let err = |message: String| SignError::Signature {
            what: what.to_string(),
            message,
        };
        let sig = minisign_verify::Signature::decode(text)
            .map_err(|e| err(format!("not a minisign signature: {e}")))?;
        let boxed = minisign::SignatureBox::from_string(text).map_err(|e| err(e.to_string()))?;
        Ok(Signature {
            key_id: key_id_of(boxed.keynum()),
            legacy: !boxed.is_prehashed(),
            sig,
        })
    }

    pub fn trusted_comment(&self) -> &str {
        self.sig.trusted_comment()
    }

    /// Checks the signature of `data` against whichever of `keys` made it; returns the trusted
    /// comment.
    pub fn verify(&self, data: &[u8], keys: &[TrustedKey], what: &str) -> Result<&str, SignError> {
        let key = keys
            .iter()
            .find(|k| k.key_id == self.key_id)
            .ok_or_else(|| SignError::UntrustedKey {
                what: what.to_string(),
                found: self.key_id.clone(),
                trusted: if keys.is_empty() {
                    "none".into()
                } else {
                    keys.iter()
                        .map(|k| k.key_id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })?;
        if self.legacy {
            return Err(SignError::Signature {
                what: what.to_string(),
                message: format!(
                    "is in minisign's legacy format (algorithm Ed, made with `minisign -S -l`), which ptd does not accept: sign again with a current minisign without -l (the prehashed format, its default) or with `ptd sign`; key {} is fine",
                    self.key_id
                ),
            });
        }
        let mut v = key
            .key
            .verify_stream(&self.sig)
            .map_err(|_| SignError::Invalid {
                what: what.to_string(),
                key_id: self.key_id.clone(),
            })?;
        for chunk in data.chunks(1 << 20) {
            v.update(chunk);
        }
        v.finalize().map_err(|_| SignError::Invalid {
            what: what.to_string(),
            key_id: self.key_id.clone(),
        })?;
        Ok(self.trusted_comment())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let k = generate(None).unwrap();
        let signer = Signer::from_secret_file(&k.secret_file, None, "k").unwrap();
        assert_eq!(signer.key_id, k.key_id);
        let sig = signer.sign(b"hello", "ptd test").unwrap();
        let trusted = TrustedKey::parse(&k.public_file).unwrap();
        let s = Signature::parse(&sig, "hello.minisig").unwrap();
        assert_eq!(
            s.verify(b"hello", std::slice::from_ref(&trusted), "hello")
                .unwrap(),
            "ptd test"
        );
        assert!(matches!(
            s.verify(b"hellO", &[trusted], "hello"),
            Err(SignError::Invalid { .. })
        ));
        let other = TrustedKey::parse(&generate(None).unwrap().public_key).unwrap();
        assert!(matches!(
            s.verify(b"hello", &[other], "hello"),
            Err(SignError::UntrustedKey { .. })
        ));
    }

    #[test]
    fn encrypted_keys_need_their_password() {
        let k = generate(Some("pw")).unwrap();
        assert!(Signer::from_secret_file(&k.secret_file, Some("pw"), "k").is_ok());
        assert!(Signer::from_secret_file(&k.secret_file, Some("nope"), "k").is_err());
    }
}
