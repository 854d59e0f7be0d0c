import { randomBytes } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaPartition, murmur2 } from '../../../src/util/murmur2.js';

describe('murmur2 / kafkaPartition (the in-process log places keys like Kafka)', () => {
  it('matches the Java client test vectors (Kafka UtilsTest.testMurmur2)', () => {
    const cases: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of cases) expect(murmur2(Buffer.from(key)), key).toBe(hash);
  });

  it('picks the partition kafkajs DefaultPartitioner picks, for random keys and partition counts', () => {
    const partitioner = Partitioners.DefaultPartitioner();
    for (let i = 0; i < 2000; i++) {
      const key = i % 3 === 0 ? randomBytes(1 + (i % 40)).toString('base64') : `user-${i}-ü-😀`.slice(0, 1 + (i % 14));
      const partitions = 1 + (i % 17);
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      const expected = partitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
      expect(kafkaPartition(key, partitions), `${key} over ${partitions}`).toBe(expected);
    }
  });
});
