package dev.warmstart.gate;

import java.time.Duration;
import java.util.Objects;

/**
 * How the transfer gate decides and how long it holds a request.
 *
 * @param maxPerNode bulk transfers allowed at once on one node
 * @param longPoll the longest a request is held before it is answered "wait"
 * @param grantExpiry how long a pod told "go" counts as transferring while its pod status does not
 *     show it yet (the gate container's exit, the kubelet starting the next container and the
 *     status reaching the informer take seconds); after that only the pod status counts, so a pod
 *     that died right after its grant blocks its node for at most this long
 * @param verifyGrace how long a request whose pod is not (yet) in the informer's view is held
 *     before it is refused: a pod's first request can overtake its own watch event
 * @param waiterLinger how long a serving pod still counts as waiting between two of its polls
 */
public record GateSettings(
    int maxPerNode,
    Duration longPoll,
    Duration grantExpiry,
    Duration verifyGrace,
    Duration waiterLinger) {
  public static final GateSettings DEFAULTS =
      new GateSettings(
          1,
          Duration.ofSeconds(25),
          Duration.ofSeconds(60),
          Duration.ofSeconds(5),
          Duration.ofSeconds(15));

  public GateSettings {
    if (maxPerNode < 1) {
      throw new IllegalArgumentException("maxPerNode must be at least 1, was " + maxPerNode);
    }
    Objects.requireNonNull(longPoll);
    Objects.requireNonNull(grantExpiry);
    Objects.requireNonNull(verifyGrace);
    Objects.requireNonNull(waiterLinger);
  }

  public GateSettings withMaxPerNode(int max) {
    return new GateSettings(max, longPoll, grantExpiry, verifyGrace, waiterLinger);
  }

  public GateSettings withLongPoll(Duration d) {
    return new GateSettings(maxPerNode, d, grantExpiry, verifyGrace, waiterLinger);
  }

  public GateSettings withGrantExpiry(Duration d) {
    return new GateSettings(maxPerNode, longPoll, d, verifyGrace, waiterLinger);
  }

  public GateSettings withVerifyGrace(Duration d) {
    return new GateSettings(maxPerNode, longPoll, grantExpiry, d, waiterLinger);
  }

  public GateSettings withWaiterLinger(Duration d) {
    return new GateSettings(maxPerNode, longPoll, grantExpiry, verifyGrace, d);
  }
}
