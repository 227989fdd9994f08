package dev.warmstart.events;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.MicroTime;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.api.model.events.v1.EventBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Clock;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kubernetes events (events.k8s.io/v1) on the objects users look at, for notable transitions only.
 */
public class EventRecorder {
  public static final String CONTROLLER = "warmstart.dev/operator";
  private static final Logger log = LoggerFactory.getLogger(EventRecorder.class);
  private static final DateTimeFormatter MICRO =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'", Locale.ROOT)
          .withZone(java.time.ZoneOffset.UTC);

  private final KubernetesClient client;
  private final Clock clock;
  private final String instance;

  public EventRecorder(KubernetesClient client, Clock clock, String instance) {
    this.client = client;
    this.clock = clock;
    this.instance = instance;
  }

  public void normal(HasMetadata regarding, String reason, String action, String note) {
    emit(regarding, "Normal", reason, action, note);
  }

  public void warning(HasMetadata regarding, String reason, String action, String note) {
    emit(regarding, "Warning", reason, action, note);
  }

  private void emit(HasMetadata regarding, String type, String reason, String action, String note) {
    var meta = regarding.getMetadata();
    var event =
        new EventBuilder()
            .withNewMetadata()
            // Named like client-go's recorder: the object's name and a timestamp in hex.
            .withName(
                meta.getName().substring(0, Math.min(meta.getName().length(), 200))
                    + "."
                    + Long.toHexString(
                        clock.instant().getEpochSecond() * 1_000_000_000L
                            + clock.instant().getNano()))
            .withNamespace(meta.getNamespace())
            .endMetadata()
            .withRegarding(
                new ObjectReferenceBuilder()
                    .withApiVersion(regarding.getApiVersion())
                    .withKind(regarding.getKind())
                    .withName(meta.getName())
                    .withNamespace(meta.getNamespace())
                    .withUid(meta.getUid())
                    .withResourceVersion(meta.getResourceVersion())
                    .build())
            .withType(type)
            .withReason(reason)
            .withAction(action)
            .withNote(note.length() > 1024 ? note.substring(0, 1021) + "..." : note)
            .withEventTime(
                new MicroTime(MICRO.format(clock.instant().truncatedTo(ChronoUnit.MICROS))))
            .withReportingController(CONTROLLER)
            .withReportingInstance(instance)
            .build();
    try {
      client.resource(event).create();
    } catch (KubernetesClientException e) {
      // An event is a courtesy: losing one must never fail a reconciliation.
      log.warn(
          "could not record event {} on {}/{}: {}",
          reason,
          meta.getNamespace(),
          meta.getName(),
          e.getMessage());
    }
  }
}
