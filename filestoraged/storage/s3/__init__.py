"""The S3 backend: objects in a bucket of any S3-compatible store (AWS S3,
Ceph RGW, SeaweedFS, Garage), spoken to with the standard library only
(``sigv4`` signs, ``client`` keeps connections and retries, ``backend``
implements the storage interface)."""
