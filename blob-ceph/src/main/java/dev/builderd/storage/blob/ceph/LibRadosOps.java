package dev.builderd.storage.blob.ceph;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * The librados C calls the {@code com.ceph:rados} bindings lack: compound write operations, which
 * make a head object's exclusive create and its compare-and-replace atomic on the OSD.
 */
interface LibRadosOps extends Library {

    LibRadosOps INSTANCE = Native.load("rados", LibRadosOps.class);

    /** {@code LIBRADOS_CREATE_EXCLUSIVE}. */
    int CREATE_EXCLUSIVE = 1;
    /** {@code LIBRADOS_CMPXATTR_OP_EQ}. */
    byte CMPXATTR_EQ = 1;

    Pointer rados_create_write_op();

    void rados_release_write_op(Pointer op);

    void rados_write_op_create(Pointer op, int exclusive, String category);

    void rados_write_op_cmpxattr(Pointer op, String name, byte comparison, byte[] value, long valueLength);

    void rados_write_op_setxattr(Pointer op, String name, byte[] value, long valueLength);

    void rados_write_op_write_full(Pointer op, byte[] buffer, long length);

    void rados_write_op_remove(Pointer op);

    int rados_write_op_operate(Pointer op, Pointer ioctx, String oid, Pointer mtime, int flags);
}
