package dev.builderd.storage.blob;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * An iterator that computes each element on demand: subclasses say how to find the next one,
 * this class does the {@link Iterator} bookkeeping. I/O failures surface as
 * {@link UncheckedIOException}, as {@link BlobStore#list} promises.
 */
public abstract class LazyIterator<T> implements Iterator<T> {

    private T next;

    /** The next element, or null when there are no more. */
    protected abstract T computeNext() throws IOException;

    @Override
    public final boolean hasNext() {
        if (next == null) {
            try {
                next = computeNext();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return next != null;
    }

    @Override
    public final T next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        T result = next;
        next = null;
        return result;
    }
}
