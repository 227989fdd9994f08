package dev.warmstart.endpoint;

import dev.warmstart.api.v1alpha1.ImageCache;
import dev.warmstart.api.v1alpha1.InferenceEndpoint;
import dev.warmstart.api.v1alpha1.InferenceEndpointStatus.ColdStart;
import dev.warmstart.autoscale.Autoscaler;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.List;
import java.util.Map;

/**
 * What one reconciliation saw of an endpoint and did to it: all its status is computed from ({@link
 * EndpointStatus#compute}).
 *
 * @param endpoint the endpoint, with the status it held when the round began
 * @param deployment the serving Deployment as last seen, or null before it exists
 * @param pods the serving pods
 * @param placeholders the warm-pool placeholders
 * @param cache the serving image's ImageCache, or null (not created yet, or caching disabled)
 * @param missingCredentials the name of spec.model.credentialsSecret when it does not exist, else
 *     null
 * @param coldStart the cold-start record, already updated with this round's new cold starts
 * @param health what starting servers answered on spec.healthPath when the operator asked ({@link
 *     HealthChecks})
 * @param scaling what this round's autoscaling decided, or null (none: off, no autoscaler, no
 *     Deployment yet)
 * @param autoscalerRuns whether this operator runs the autoscaler at all
 * @param priorityClassProblem why the placeholders' PriorityClass is missing, or null
 */
public record EndpointObservation(
    InferenceEndpoint endpoint,
    Deployment deployment,
    List<Pod> pods,
    List<Pod> placeholders,
    ImageCache cache,
    String missingCredentials,
    ColdStart coldStart,
    Map<String, HealthChecks.Answer> health,
    Autoscaler.Outcome scaling,
    boolean autoscalerRuns,
    String priorityClassProblem) {}
