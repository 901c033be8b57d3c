// Structural checks over Kubernetes manifests (plain objects, no cluster):
// every referenced ConfigMap / Secret / key / volume / named port exists,
// Services select a workload and target its ports, StatefulSets name their
// headless Service. Returns every problem at once; [] means consistent.

export type Manifest = { apiVersion?: string; kind?: string; metadata?: { name?: string; labels?: Record<string, string> }; [k: string]: any };

export interface Workload {
  kind: string;
  name: string;
  labels: Record<string, string>;
  pod: any;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'Pod']);

export function workloads(docs: Manifest[]): Workload[] {
  return docs
    .filter((d) => WORKLOAD_KINDS.has(d.kind ?? ''))
    .map((d) => (d.kind === 'Pod' ? { kind: 'Pod', name: d.metadata!.name!, labels: d.metadata?.labels ?? {}, pod: d.spec } : { kind: d.kind!, name: d.metadata!.name!, labels: d.spec?.template?.metadata?.labels ?? {}, pod: d.spec?.template?.spec }));
}

export function find(docs: Manifest[], kind: string, name: string): Manifest | undefined {
  return docs.find((d) => d.kind === kind && d.metadata?.name === name);
}

/** Keys of a ConfigMap or Secret (data, stringData, binaryData). */
function keysOf(doc: Manifest): Set<string> {
  return new Set([...Object.keys(doc.data ?? {}), ...Object.keys(doc.stringData ?? {}), ...Object.keys(doc.binaryData ?? {})]);
}

function containerPorts(pod: any): Array<{ container: string; name?: string; containerPort: number }> {
  return [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])].flatMap((c: any) => (c.ports ?? []).map((p: any) => ({ container: c.name, name: p.name, containerPort: p.containerPort })));
}

function portExists(pod: any, port: string | number, container?: any): boolean {
  const ports = container ? (container.ports ?? []).map((p: any) => ({ name: p.name, containerPort: p.containerPort })) : containerPorts(pod);
  return typeof port === 'number' ? ports.some((p: any) => p.containerPort === port) : ports.some((p: any) => p.name === port);
}

export function checkManifests(docs: Manifest[]): string[] {
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const [i, d] of docs.entries()) {
    if (!d?.apiVersion || !d.kind || !d.metadata?.name) {
      errors.push(`document ${i}: apiVersion, kind and metadata.name are required`);
      continue;
    }
    const id = `${d.kind}/${d.metadata.name}`;
    if (seen.has(id)) errors.push(`${id} is defined twice`);
    seen.add(id);
  }
  const need = (kind: string, name: string, from: string, key?: string) => {
    const doc = find(docs, kind, name);
    if (!doc) return errors.push(`${from}: ${kind} "${name}" does not exist`);
    if (key !== undefined && !keysOf(doc).has(key)) errors.push(`${from}: ${kind} "${name}" has no key "${key}"`);
  };

  for (const w of workloads(docs)) {
    const at = `${w.kind}/${w.name}`;
    const pod = w.pod ?? {};
    const doc = find(docs, w.kind, w.name)!;
    const sel = doc.spec?.selector?.matchLabels;
    if (w.kind !== 'Pod') {
      if (!sel || !Object.keys(sel).length) errors.push(`${at}: spec.selector.matchLabels is empty`);
      else for (const [k, v] of Object.entries(sel)) if (w.labels[k] !== v) errors.push(`${at}: selector ${k}=${String(v)} does not match the pod template labels`);
    }
    if (w.kind === 'StatefulSet') {
      const svc = find(docs, 'Service', doc.spec?.serviceName);
      if (!svc) errors.push(`${at}: serviceName "${doc.spec?.serviceName}" is not a Service here`);
      else if (svc.spec?.clusterIP !== 'None') errors.push(`${at}: serviceName "${doc.spec.serviceName}" is not headless (clusterIP: None)`);
    }
    const volumes = new Map<string, any>((pod.volumes ?? []).map((v: any) => [v.name, v]));
    for (const t of doc.spec?.volumeClaimTemplates ?? []) volumes.set(t.metadata?.name, { pvc: true });
    for (const [name, v] of volumes) {
      if (v.configMap) {
        need('ConfigMap', v.configMap.name, `${at} volume ${name}`);
        for (const it of v.configMap.items ?? []) need('ConfigMap', v.configMap.name, `${at} volume ${name}`, it.key);
      }
      if (v.secret) {
        need('Secret', v.secret.secretName, `${at} volume ${name}`);
        for (const it of v.secret.items ?? []) need('Secret', v.secret.secretName, `${at} volume ${name}`, it.key);
      }
    }
    for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
      const cat = `${at} container ${c.name}`;
      if (!c.image) errors.push(`${cat}: no image`);
      for (const m of c.volumeMounts ?? []) {
        const v = volumes.get(m.name);
        if (!v) {
          errors.push(`${cat}: volumeMount "${m.name}" names no volume`);
          continue;
        }
        if (m.subPath && v.configMap) need('ConfigMap', v.configMap.name, `${cat} subPath`, m.subPath);
        if (m.subPath && v.secret) need('Secret', v.secret.secretName, `${cat} subPath`, m.subPath);
      }
      for (const e of c.env ?? []) {
        const cm = e.valueFrom?.configMapKeyRef;
        if (cm) need('ConfigMap', cm.name, `${cat} env ${e.name}`, cm.key);
        const s = e.valueFrom?.secretKeyRef;
        if (s) need('Secret', s.name, `${cat} env ${e.name}`, s.key);
      }
      for (const e of c.envFrom ?? []) {
        if (e.configMapRef) need('ConfigMap', e.configMapRef.name, `${cat} envFrom`);
        if (e.secretRef) need('Secret', e.secretRef.name, `${cat} envFrom`);
      }
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const p = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port ?? c[probe]?.grpc?.port;
        if (p !== undefined && !portExists(pod, p, c)) errors.push(`${cat}: ${probe} port ${String(p)} is not one of its container ports`);
      }
    }
    const names = containerPorts(pod).map((p) => p.name).filter(Boolean);
    if (new Set(names).size !== names.length) errors.push(`${at}: container port names are not unique within the pod`);
  }

  for (const svc of docs.filter((d) => d.kind === 'Service')) {
    const at = `Service/${svc.metadata!.name}`;
    const sel = svc.spec?.selector ?? {};
    const targets = workloads(docs).filter((w) => Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => w.labels[k] === v));
    if (!targets.length) {
      errors.push(`${at}: selector matches no workload`);
      continue;
    }
    for (const p of svc.spec?.ports ?? []) {
      const tp = p.targetPort ?? p.port;
      for (const w of targets) if (!portExists(w.pod, tp)) errors.push(`${at}: targetPort ${String(tp)} is not a container port of ${w.kind}/${w.name}`);
    }
  }
  return errors;
}

/** The container port with this name in a workload (throws if absent). */
export function namedPort(w: Workload, container: string, name: string): number {
  const c = (w.pod?.containers ?? []).find((x: any) => x.name === container);
  const p = (c?.ports ?? []).find((x: any) => x.name === name);
  if (!p) throw new Error(`${w.kind}/${w.name}: container ${container} has no port "${name}"`);
  return p.containerPort;
}
