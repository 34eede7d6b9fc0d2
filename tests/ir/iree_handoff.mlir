// RUN: sparsile compile %s --from-stage iree-input --compile-to iree-handoff -q | filecheck %s

// The hand-off, in IREE's own bindings: a marked kernel function becomes a stream.executable
// whose export returns the kernel's workgroup count and whose inner function takes
// !stream.binding's (one subspan per memref argument, workgroup ids for the index
// arguments); each call of a marked declaration becomes flow.dispatch of it. The marker
// functions and attributes are gone: this is exactly what iree-compile receives.
// CHECK-LABEL: stream.executable private @scale_kernel_exe
// CHECK: stream.executable.export public @scale_kernel workgroups() -> (index, index, index)
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: stream.return %[[C2]], %[[C1]], %{{.*}} : index, index, index
// CHECK: func.func @scale_kernel(%[[B0:.*]]: !stream.binding, %[[B1:.*]]: !stream.binding, %[[B2:.*]]: !stream.binding)
// CHECK: %[[X:.*]] = stream.binding.subspan %[[B0]][%{{.*}}] : !stream.binding -> memref<8xf32>
// CHECK: %[[W:.*]] = stream.binding.subspan %[[B1]][%{{.*}}] : !stream.binding -> memref<8xf32>
// CHECK: %[[Y:.*]] = stream.binding.subspan %[[B2]][%{{.*}}] : !stream.binding -> memref<8xf32>
// CHECK: %[[ID:.*]] = hal.interface.workgroup.id[0] : index
// CHECK: arith.muli %[[ID]]
// CHECK: memref.store %{{.*}}, %[[Y]][%{{.*}}] : memref<8xf32>
// CHECK-NOT: sparsile.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[IN:.*]]: tensor<8xf32>)
// CHECK: %[[CW:.*]] = arith.constant {{.*}}dense<{{.*}}> : tensor<8xf32>
// CHECK: %[[OUT:.*]] = flow.dispatch @scale_kernel_exe::@scale_kernel(%[[IN]], %[[CW]]) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
// CHECK: return %[[OUT]]
// CHECK-NOT: func.call
// CHECK-NOT: sparsile.kernel
func.func private @scale_dispatch(tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32> attributes {sparsile.kernel = @scale_kernel}
func.func private @scale_kernel(%wg: index, %x: memref<8xf32>, %w: memref<8xf32>, %y: memref<8xf32>) attributes {sparsile.workgroups = array<i64: 2, 1, 1>} {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %first = arith.muli %wg, %c4 : index
  %last = arith.addi %first, %c4 : index
  scf.for %i = %first to %last step %c1 {
    %a = memref.load %x[%i] : memref<8xf32>
    %b = memref.load %w[%i] : memref<8xf32>
    %p = arith.mulf %a, %b : f32
    memref.store %p, %y[%i] : memref<8xf32>
  }
  return
}
func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %y = call @scale_dispatch(%x, %w) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %y : tensor<8xf32>
}
