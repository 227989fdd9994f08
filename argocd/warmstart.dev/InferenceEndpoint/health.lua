-- Argo CD health of a warmstart InferenceEndpoint (Lua 5.1, as Argo CD's gopher-lua), from its conditions.
-- Degraded: the Degraded condition is True (missing credentials, image pull or model download
--   failures, a crash-looping server, an invalid pod configuration).
-- Progressing: a spec not yet observed, a rollout in progress, replicas starting or waiting for a
--   GPU node (Unschedulable: a node pool may be scaling up).
-- Healthy: Ready is True and nothing is rolling out, or the endpoint is scaled to zero.
local hs = {status = "Progressing", message = "Waiting for the operator to report status"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < generation then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end
local conditions = {}
for _, c in ipairs(obj.status.conditions) do
  conditions[c.type] = c
end
local degraded, ready, progressing = conditions["Degraded"], conditions["Ready"], conditions["Progressing"]
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = (degraded.reason or "Degraded") .. ": " .. (degraded.message or "")
  return hs
end
if ready ~= nil and ready.reason == "ScaledToZero" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
if progressing ~= nil and progressing.status == "True" then
  hs.message = (progressing.reason or "Progressing") .. ": " .. (progressing.message or "")
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
if ready ~= nil then
  hs.message = (ready.reason or "NotReady") .. ": " .. (ready.message or "")
end
return hs
