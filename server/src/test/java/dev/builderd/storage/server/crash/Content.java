package dev.builderd.storage.server.crash;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Stored bytes as the client knows them: their SHA-256 (lowercase hex) and length. */
record Content(String sha256, long size) {

    static Content of(byte[] bytes) {
        return new Content(sha256(bytes), bytes.length);
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return sha256.substring(0, 12) + "…(" + size + " B)";
    }
}
