// RUN: sparsile opt -p select-to-maximum --split-input-file %s | filecheck %s

// The compare-and-select ReLU becomes maximumf (ugt and uge select a NaN x, as maximumf does).
// CHECK-LABEL: func.func @relu
// CHECK-SAME: (%[[X:.*]]: f32)
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[M:.*]] = arith.maximumf %[[X]], %[[ZERO]] : f32
// CHECK-NEXT: return %[[M]]
func.func @relu(%x: f32) -> f32 {
  %zero = arith.constant 0.0 : f32
  %gt = arith.cmpf ugt, %x, %zero : f32
  %r = arith.select %gt, %x, %zero : f32
  return %r : f32
}

// -----

// Ordered comparisons select 0 for a NaN x: not a maximum, left alone.
// CHECK-LABEL: func.func @ordered
// CHECK: arith.cmpf ogt
// CHECK: arith.select
func.func @ordered(%x: f32) -> f32 {
  %zero = arith.constant 0.0 : f32
  %gt = arith.cmpf ogt, %x, %zero : f32
  %r = arith.select %gt, %x, %zero : f32
  return %r : f32
}

// -----

// Swapped select operands are a minimum: left alone.
// CHECK-LABEL: func.func @swapped
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
// CHECK-NOT: arith.maximumf
func.func @swapped(%x: f32) -> f32 {
  %zero = arith.constant 0.0 : f32
  %gt = arith.cmpf ugt, %x, %zero : f32
  %r = arith.select %gt, %zero, %x : f32
  return %r : f32
}
