package dev.warmstart.model;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;

/**
 * Where model weights come from: one implementation per URI scheme ({@link S3Source}, {@link HttpSource},
 * {@link HubSource}). A source lists the files with what it knows of their sizes and checksums, and opens
 * a stream per file; the {@link Downloader} does the writing, checking and retrying.
 *
 * <p>Errors are {@link FetchException}s whose messages say what to fix; other {@link IOException}s are
 * treated as transient network failures.
 */
public interface ModelSource extends Closeable {

    /** The URI for logs and the termination message: never credentials, signatures or query strings. */
    String displayUri();

    /** All files of the model; never empty (an empty listing is a {@link FetchException}). */
    List<RemoteFile> list() throws IOException;

    /** Opens {@code file} for reading from its first byte. The caller closes the body. */
    Body open(RemoteFile file) throws IOException;

    @Override
    default void close() throws IOException {
    }

    /**
     * An open download.
     *
     * @param stream the bytes; closing it (also from another thread) aborts the transfer
     * @param length the length the server announced, or -1
     */
    record Body(InputStream stream, long length) implements Closeable {
        @Override
        public void close() throws IOException {
            stream.close();
        }
    }
}
