/**
 * An endpoint of the deployer as Kubernetes objects: the model server
 * (`cairn serve`) as a Deployment and a Service, or, when the endpoint has a
 * canary, as an Argo Rollouts `Rollout` whose canary step has the local
 * deployer's weight. Each pod serves one model version: it deploys that
 * version into its own state folder, then serves it.
 */
import type { Deployment, TrafficRoute } from '@cairn/core';
import { usageError } from '../errors';
import { k8sName, secretEnv } from './common';

export interface K8sOptions {
  image: string;
  /** The stack environment the pods run with (`--env` of `cairn deploy` and `cairn serve` in the pod). */
  podEnv: string;
  /** Variables the pod environment's stack reads, from the Secret. */
  envVars: readonly string[];
  secret: string;
  namespace?: string;
  replicas: number;
  port: number;
  /** Render the Rollout even without a canary (to start a Rollout at the primary version). */
  rollout: boolean;
  /** An NGINX Ingress for the stable Service: Argo Rollouts then splits requests by weight instead of by pod count. */
  nginxIngress?: string;
}

export interface K8sExport {
  documents: Record<string, unknown>[];
  /** What the cluster will do differently from the local deployer, for the user to read. */
  warnings: string[];
}

/** Where the pod keeps the deployer's state: an emptyDir, so each pod starts from nothing. */
const STATE_DIR = '/app/.cairn';

function container(deployment: Deployment, route: TrafficRoute, options: K8sOptions) {
  const health = `/v1/endpoints/${encodeURIComponent(deployment.endpoint)}/health`;
  return {
    name: 'server',
    image: options.image,
    // One version per pod: the cluster, not the pod, splits traffic between versions.
    command: ['sh', '-c'],
    args: [
      'cairn deploy "$CAIRN_MODEL" "$CAIRN_VERSION" --endpoint "$CAIRN_ENDPOINT" --env "$CAIRN_ENV" --reason "pod start" && exec cairn serve --env "$CAIRN_ENV" --port "$CAIRN_PORT"',
    ],
    env: [
      { name: 'CAIRN_MODEL', value: route.model.model },
      { name: 'CAIRN_VERSION', value: String(route.model.version) },
      { name: 'CAIRN_ENDPOINT', value: deployment.endpoint },
      { name: 'CAIRN_ENV', value: options.podEnv },
      { name: 'CAIRN_PORT', value: String(options.port) },
      ...secretEnv(options.envVars, options.secret),
    ],
    ports: [{ name: 'http', containerPort: options.port }],
    readinessProbe: { httpGet: { path: health, port: 'http' }, periodSeconds: 5 },
    livenessProbe: {
      httpGet: { path: '/healthz', port: 'http' },
      initialDelaySeconds: 30,
      periodSeconds: 10,
    },
    volumeMounts: [{ name: 'state', mountPath: STATE_DIR }],
  };
}

function podTemplate(
  deployment: Deployment,
  route: TrafficRoute,
  options: K8sOptions,
  labels: Record<string, string>,
) {
  return {
    metadata: {
      labels: {
        ...labels,
        'cairn.dev/model': k8sName(route.model.model),
        'cairn.dev/version': String(route.model.version),
      },
      annotations: { 'cairn.dev/digest': route.model.digest },
    },
    spec: {
      containers: [container(deployment, route, options)],
      volumes: [{ name: 'state', emptyDir: {} }],
    },
  };
}

function service(
  name: string,
  labels: Record<string, string>,
  selector: Record<string, string>,
  options: K8sOptions,
) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, ...(options.namespace ? { namespace: options.namespace } : {}), labels },
    spec: {
      selector,
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

/**
 * @throws CAIRN_DEPLOY_INVALID when the endpoint has no primary route
 */
export function renderK8s(deployment: Deployment, options: K8sOptions): K8sExport {
  // Room for the Rollout's `-canary`/`-stable` Services, with or without --rollout: the same name either way.
  const name = k8sName(deployment.endpoint, '-canary'.length);
  const primary = deployment.routes.find((r) => r.role === 'primary');
  if (!primary) {
    throw usageError(`Endpoint "${deployment.endpoint}" has no primary route to serve`, {
      code: 'CAIRN_DEPLOY_INVALID',
    });
  }
  const canary = deployment.routes.find((r) => r.role === 'canary');
  const warnings = deployment.routes
    .filter((r) => r.role === 'shadow')
    .map(
      (r) =>
        `v${r.model.version} is a shadow route locally; Argo Rollouts does not mirror traffic, so it is not exported.`,
    );
  const selector = { 'app.kubernetes.io/name': name };
  const labels = { ...selector, 'app.kubernetes.io/managed-by': 'cairn', 'cairn.dev/endpoint': name };
  const metadata = (objectName: string) => ({
    name: objectName,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    labels,
    annotations: {
      'cairn.dev/endpoint-name': deployment.endpoint,
      'cairn.dev/revision': String(deployment.revision),
    },
  });

  if (!canary && !options.rollout) {
    return {
      documents: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: metadata(name),
          spec: {
            replicas: options.replicas,
            selector: { matchLabels: selector },
            template: podTemplate(deployment, primary, options, labels),
          },
        },
        service(name, labels, selector, options),
      ],
      warnings,
    };
  }

  const weight = canary?.weight ?? 100;
  if (canary && !options.nginxIngress && (weight * options.replicas) % 100 !== 0) {
    const pods = Math.ceil((weight * options.replicas) / 100);
    warnings.push(
      `Without a traffic router, Argo Rollouts splits by pod count: ${weight}% of ${options.replicas} replicas is ${pods} canary pod(s) (${Math.round((100 * pods) / options.replicas)}%). Use --replicas so that the weight is a whole number of pods, or --nginx-ingress for an exact split.`,
    );
  }
  const served = canary ?? primary;
  const rollout = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: {
      ...metadata(name),
      annotations: {
        ...metadata(name).annotations,
        // The version the stable ReplicaSet must already serve for this canary to be the local split.
        'cairn.dev/stable-version': `${primary.model.model}@${primary.model.version}`,
      },
    },
    spec: {
      replicas: options.replicas,
      selector: { matchLabels: selector },
      template: podTemplate(deployment, served, options, labels),
      strategy: {
        canary: {
          canaryService: `${name}-canary`,
          stableService: `${name}-stable`,
          // The local canary's weight, then wait: promotion is a decision (`kubectl argo rollouts promote`).
          steps: canary ? [{ setWeight: weight }, { pause: {} }] : [],
          ...(options.nginxIngress
            ? { trafficRouting: { nginx: { stableIngress: options.nginxIngress } } }
            : {}),
        },
      },
    },
  };
  return {
    documents: [
      rollout,
      service(name, labels, selector, options),
      service(`${name}-stable`, labels, selector, options),
      service(`${name}-canary`, labels, selector, options),
    ],
    warnings,
  };
}
