import { expect } from 'chai';
import fc from 'fast-check';
import { Deque } from '../../../server/broker/memory/deque';

describe('broker/memory Deque', function () {
  it('behaves like an array under any mix of pushBack, pushFront, shift and clear (across growth)', function () {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('back' as const), value: fc.integer() }),
      fc.record({ kind: fc.constant('front' as const), value: fc.integer() }),
      fc.record({ kind: fc.constant('shift' as const) }),
      fc.record({ kind: fc.constant('clear' as const) })
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const deque = new Deque<number>(4);
        const model: number[] = [];
        for (const o of ops) {
          if (o.kind === 'back') {
            deque.pushBack(o.value);
            model.push(o.value);
          } else if (o.kind === 'front') {
            deque.pushFront(o.value);
            model.unshift(o.value);
          } else if (o.kind === 'shift') {
            expect(deque.shift()).to.equal(model.shift());
          } else {
            deque.clear();
            model.length = 0;
          }
          expect(deque.length).to.equal(model.length);
        }
        const drained: number[] = [];
        for (let v = deque.shift(); v !== undefined; v = deque.shift()) drained.push(v);
        expect(drained).to.deep.equal(model);
      })
    );
  });
});
