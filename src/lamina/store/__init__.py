"""lamina.store: the content-addressed blob store in OCI image-layout form.

Must not know drivers, mounts or registries. Import from the submodules, not from here:
``blobs`` (BlobStore, BlobWriter, BlobInfo, BlobStoreProtocol), ``refs`` (RefStore, index.json
names), ``walk`` (descriptor graph), ``gc`` (mark and sweep), ``ocilayout`` (export/read layouts).
The on-disk layout is documented at the top of ``blobs.py``.
"""
