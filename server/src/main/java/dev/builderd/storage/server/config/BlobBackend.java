package dev.builderd.storage.server.config;

import dev.builderd.storage.blob.azure.AzureSettings;
import dev.builderd.storage.blob.ceph.CephSettings;
import dev.builderd.storage.blob.gcs.GcsSettings;
import dev.builderd.storage.blob.s3.S3Settings;

/**
 * Where a category's blobs (artifacts, logs, caches) live, or a target they are copied to (the
 * replica), with that backend's settings.
 */
public sealed interface BlobBackend {

    /** The name used in configuration and health reports. */
    String name();

    /** Files under the category's root on this machine (also for NFS and iSCSI data roots). */
    record Local() implements BlobBackend {
        @Override
        public String name() {
            return "filesystem";
        }
    }

    /** Files under a directory of this machine, given by a target URL ({@code file:///abs/dir}). */
    record Directory(java.nio.file.Path root) implements BlobBackend {
        @Override
        public String name() {
            return "filesystem";
        }
    }

    /** AWS S3 or an S3-compatible server (MinIO, Ceph RGW, GCS interoperability). */
    record S3(String name, S3Settings settings) implements BlobBackend {
    }

    /** Ceph natively, through librados (its RADOS Gateway is the {@link S3} backend with an endpoint). */
    record Ceph(CephSettings settings) implements BlobBackend {
        @Override
        public String name() {
            return "ceph";
        }
    }

    record Azure(AzureSettings settings) implements BlobBackend {
        @Override
        public String name() {
            return "azure";
        }
    }

    record Gcs(GcsSettings settings) implements BlobBackend {
        @Override
        public String name() {
            return "gcs";
        }
    }
}
