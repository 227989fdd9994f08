package dev.warmstart.fetch.command;

import dev.warmstart.fetch.Log;
import dev.warmstart.fetch.cache.CacheKey;
import dev.warmstart.fetch.cache.Origin;
import dev.warmstart.fetch.source.ModelSource;
import dev.warmstart.fetch.transfer.Downloader;
import dev.warmstart.fetch.transfer.FetchSettings;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * A model source and the downloader, as the node cache sees them: the cache knows neither, so that
 * it keeps working however they change.
 *
 * @param model the opened source
 * @param uri the model URI as given, for the cache key
 * @param endpoint the endpoint it is read from (S3 or Hub), or null: part of the cache key too
 */
record SourceOrigin(ModelSource model, String uri, String endpoint, Log log, FetchSettings settings)
    implements Origin {
  @Override
  public String displayUri() {
    return model.displayUri();
  }

  @Override
  public String identity() {
    return CacheKey.identity(uri, endpoint);
  }

  @Override
  public boolean immutable() {
    return CacheKey.immutable(uri);
  }

  @Override
  public List<Listed> list() throws IOException {
    return model.list().stream()
        .map(f -> new Listed(f.path(), f.size(), f.sha256(), f.ref()))
        .toList();
  }

  @Override
  public Fetched download(Path dir) throws IOException {
    Downloader.Result r = new Downloader(dir, log, settings).fetch(model);
    return new Fetched(r.bytes(), r.files());
  }
}
