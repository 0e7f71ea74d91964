//! SSH settings ferry uses on both sides: as the SFTP server partners
//! connect to (`protocols::sftp`) and as the client of partners' own SFTP
//! servers (`connectors::sftp`). Neither side borrows from the other.

use russh::cipher;

/// The ciphers ferry offers and asks for, as server and as client:
/// aes128-gcm first, as OpenSSH asks for it and it is the fastest with AES
/// instructions; russh leaves it out by default.
pub const CIPHERS: &[cipher::Name] = &[
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_128_CTR,
    cipher::AES_256_CTR,
];
