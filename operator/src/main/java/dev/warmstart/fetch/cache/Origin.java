package dev.warmstart.fetch.cache;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * What the {@link ModelCache} needs from a model source: a listing and a download into a directory.
 * fetch-model implements it around its sources and its downloader, so the cache depends on neither
 * and keeps working however they change.
 */
public interface Origin {

  /** The source for logs and the manifest: never credentials, signatures or query strings. */
  String displayUri();

  /**
   * What names the content before anything is listed: the normalized URI with the endpoint it is
   * read from ({@link CacheKey#identity}). Part of the cache key.
   */
  String identity();

  /**
   * Whether {@link #identity()} alone pins the content (hf://org/model@&lt;commit&gt;), so that a
   * cached copy can be used without asking the source. Otherwise the cache lists the source on
   * every fetch and keys the entry by the listing too, so a moved branch or a changed object is a
   * new entry.
   */
  boolean immutable();

  /** The files as the source lists them now: one request for s3:// and hf://, none for https://. */
  List<Listed> list() throws IOException;

  /**
   * Downloads the whole model into {@code dir} (created if missing), each file complete and checked
   * under its final name, as fetch-model does without a cache.
   */
  Fetched download(Path dir) throws IOException;

  /**
   * One listed file.
   *
   * @param path relative path, '/'-separated
   * @param size bytes, or -1 when the listing does not say
   * @param sha256 lowercase hex when listed, else null
   * @param version where the source finds it (an S3 key, a URL with the Hub's commit in it); a
   *     URL's query string is ignored
   */
  record Listed(String path, long size, String sha256, String version) {}

  /** What a download wrote. */
  record Fetched(long bytes, int files) {}
}
