// Fovea's two gRPC APIs from Node.js (@grpc/grpc-js + @grpc/proto-loader, straight from proto/), over TCP and over the
// server's Unix socket. tests/node/run.sh sets FOVEA_TARGET (host:port) and FOVEA_UDS_TARGET (unix:///path) to a
// server on the server tests' model repository.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const protoRoot = path.join(__dirname, '..', '..', 'proto');
const definition = protoLoader.loadSync(
  ['fovea/v1/inference.proto', 'inference/grpc_service.proto'],
  { includeDirs: [protoRoot], keepCase: true, longs: Number, enums: String, defaults: true },
);
const loaded = grpc.loadPackageDefinition(definition);

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + 30000 }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

// A 32x32 RGB gradient, row-major.
function frame() {
  const bytes = Buffer.alloc(32 * 32 * 3);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const i = (y * 32 + x) * 3;
      bytes[i] = x * 8;
      bytes[i + 1] = 90;
      bytes[i + 2] = y * 8;
    }
  }
  return bytes;
}

const targets = [['TCP', process.env.FOVEA_TARGET], ['Unix socket', process.env.FOVEA_UDS_TARGET]];

for (const [transport, target] of targets) {
  test(`fovea.v1 over ${transport}`, async (t) => {
    assert.ok(target, 'run through tests/node/run.sh, which sets the targets');
    const client = new loaded.fovea.v1.InferenceService(target, grpc.credentials.createInsecure());
    t.after(() => client.close());

    const models = await call(client, 'ListModels', {});
    assert.ok(models.models.some((model) => model.name === 'cnn' && model.status === 'MODEL_STATUS_READY'));

    const response = await call(client, 'Predict', {
      model: 'cnn',
      images: [{ pixels: { data: frame(), width: 32, height: 32, format: 'PIXEL_FORMAT_RGB' } }],
      top_k: 3,
    });
    assert.strictEqual(response.results.length, 1);
    assert.strictEqual(response.results[0].classes.length, 3);
    assert.ok(response.results[0].classes[0].score > 0);

    await assert.rejects(call(client, 'Predict', { model: 'no-such-model', images: [] }),
      (error) => error.code === grpc.status.NOT_FOUND && error.details.includes('no-such-model'));
  });

  test(`Open Inference Protocol over ${transport}`, async (t) => {
    const client = new loaded.inference.GRPCInferenceService(target, grpc.credentials.createInsecure());
    t.after(() => client.close());

    assert.strictEqual((await call(client, 'ServerLive', {})).live, true);
    assert.strictEqual((await call(client, 'ModelReady', { name: 'cnn' })).ready, true);
    const metadata = await call(client, 'ModelMetadata', { name: 'cnn' });
    assert.strictEqual(metadata.inputs[0].datatype, 'UINT8');

    const response = await call(client, 'ModelInfer', {
      model_name: 'cnn',
      id: 'node-1',
      inputs: [{ name: 'input', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
      raw_input_contents: [frame()],
    });
    assert.strictEqual(response.id, 'node-1');
    assert.strictEqual(response.outputs[0].datatype, 'FP32');
    assert.deepStrictEqual(response.outputs[0].shape, [1, 10]);
    assert.strictEqual(response.raw_output_contents[0].length, 40);

    await assert.rejects(call(client, 'ModelInfer', {
      model_name: 'cnn',
      inputs: [{ name: 'input', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
      raw_input_contents: [Buffer.alloc(10)],
    }), (error) => error.code === grpc.status.INVALID_ARGUMENT && error.details.includes('inputs[0]'));
  });
}

// What a Triton client sees where Triton answers a particular way: declared-input checks with Triton's messages,
// ModelReady for an unknown model, and a stream answered in request order with ids.
test('Open Inference Protocol as Triton answers it', async (t) => {
  const client = new loaded.inference.GRPCInferenceService(process.env.FOVEA_TARGET, grpc.credentials.createInsecure());
  t.after(() => client.close());

  await assert.rejects(call(client, 'ModelInfer', {
    model_name: 'triton_cnn',
    inputs: [{ name: 'INPUT__0', datatype: 'INT32', shape: [1, 3, 32, 32] }],
    raw_input_contents: [Buffer.alloc(3 * 32 * 32 * 4)],
  }), (error) => error.code === grpc.status.INVALID_ARGUMENT
    && error.details === "inference input 'INPUT__0' data-type is 'INT32', but model 'triton_cnn' expects 'FP32'");
  await assert.rejects(call(client, 'ModelInfer', {
    model_name: 'triton_cnn',
    inputs: [{ name: 'INPUT__0', datatype: 'FP32', shape: [1, 3, 64, 16] }],
    raw_input_contents: [Buffer.alloc(3 * 32 * 32 * 4)],
  }), (error) => error.code === grpc.status.INVALID_ARGUMENT && error.details.includes('got [1,3,64,16]'));
  await assert.rejects(call(client, 'ModelReady', { name: 'no-such-model' }),
    (error) => error.code === grpc.status.NOT_FOUND);

  const stream = client.ModelStreamInfer();
  const received = [];
  const done = new Promise((resolve, reject) => {
    stream.on('data', (response) => received.push(response.infer_response.id + (response.error_message ? ' error' : '')));
    stream.on('error', reject);
    stream.on('end', resolve);
  });
  const expected = [];
  for (let i = 0; i < 3; i++) {
    stream.write({
      model_name: 'slow', id: `slow${i}`, inputs: [{ name: 'input', datatype: 'UINT8', shape: [1, 16, 16, 3] }],
      raw_input_contents: [Buffer.alloc(16 * 16 * 3)],
    });
    stream.write({ model_name: 'no-such-model', id: `bad${i}` });
    expected.push(`slow${i}`, `bad${i} error`);
  }
  stream.end();
  await done;
  assert.deepStrictEqual(received, expected);
});
