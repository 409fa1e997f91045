//! Explanations of concurrent requests computed together. A request's explanation joins a
//! queue; while fewer explanations run than the machine has cores, the request's own thread
//! takes the queue's front — up to a TreeSHAP block of requests with the same reference — and
//! computes them as one batch (`Explainer::explain_many`: the block kernel serves the rows in
//! the vector lanes for about half the cost of each alone), then hands every answer to its
//! request. A lone request is a batch of one, as fast as before (both cores when nothing else
//! runs, see `contention`). No thread of its own: whoever waits does the work, so nothing is
//! left to stop when a model is swapped out.

use super::errors::ApiError;
use super::state::Loaded;
use crate::explain::{Answer, ExplainOptions, Lang, Reference};
use crate::schema::Applicant;
use crate::shap::BLOCK_ROWS;
use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The queue of one model's explanations.
#[derive(Debug)]
pub struct Combiner {
    state: Mutex<Queue>,
    changed: Condvar,
    /// How many batches may run at once: the cores.
    leaders: usize,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<Job>,
    running: usize,
    next: u64,
    done: HashMap<u64, Result<Answer, ApiError>>,
}

#[derive(Debug)]
struct Job {
    id: u64,
    customer: Applicant,
    lang: Lang,
    reference: Option<Reference>,
}

impl Default for Combiner {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Combiner::new(cores)
    }
}

impl Combiner {
    pub fn new(leaders: usize) -> Combiner {
        Combiner { state: Mutex::default(), changed: Condvar::new(), leaders: leaders.max(1) }
    }

    /// The explanation of `customer` (whose `reference` the caller checked the model has),
    /// computed in a batch with whatever else waits. Blocks: call it off the async workers.
    pub fn explain(
        &self,
        loaded: &Loaded,
        customer: Applicant,
        lang: Lang,
        reference: Option<Reference>,
    ) -> Result<Answer, ApiError> {
        let mut queue = self.lock();
        let id = queue.next;
        queue.next += 1;
        queue.waiting.push_back(Job { id, customer, lang, reference });
        loop {
            if let Some(answer) = queue.done.remove(&id) {
                return answer;
            }
            if queue.running < self.leaders && !queue.waiting.is_empty() {
                let batch = take_batch(&mut queue.waiting);
                queue.running += 1;
                drop(queue);
                // A panic must not leave the batch's requests waiting for ever.
                let answers =
                    catch_unwind(AssertUnwindSafe(|| compute(loaded, &batch))).unwrap_or_else(|_| {
                        batch.iter().map(|_| Err(ApiError::internal("explanation failed"))).collect()
                    });
                queue = self.lock();
                queue.running -= 1;
                for (job, answer) in batch.iter().zip(answers) {
                    queue.done.insert(job.id, answer);
                }
                self.changed.notify_all();
                continue;
            }
            queue = self.changed.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The front job and, after it, up to a block's worth of those with the same reference (the
/// others keep their places).
fn take_batch(waiting: &mut VecDeque<Job>) -> Vec<Job> {
    let reference = waiting.front().map(|job| job.reference);
    let mut batch = Vec::new();
    let mut rest = VecDeque::with_capacity(waiting.len());
    while let Some(job) = waiting.pop_front() {
        if batch.len() < BLOCK_ROWS && Some(job.reference) == reference {
            batch.push(job);
        } else {
            rest.push_back(job);
        }
    }
    *waiting = rest;
    batch
}

fn compute(loaded: &Loaded, batch: &[Job]) -> Vec<Result<Answer, ApiError>> {
    loaded.metrics.record_batch(batch.len());
    if let [job] = batch {
        let explaining = loaded.contention.begin();
        let options = ExplainOptions {
            lang: job.lang,
            parallel: explaining.alone,
            reference: job.reference,
            ..Default::default()
        };
        return vec![loaded.explainer.explain(&job.customer, options).map_err(ApiError::internal)];
    }
    let _explaining = loaded.contention.begin();
    let applicants: Vec<(&Applicant, Lang)> = batch.iter().map(|job| (&job.customer, job.lang)).collect();
    let options = ExplainOptions { reference: batch[0].reference, ..Default::default() };
    match loaded.explainer.explain_many(&applicants, options) {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(e) => batch.iter().map(|_| Err(ApiError::internal(&e))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example customer with another income.
    fn customer(income: u32) -> Applicant {
        let mut body: serde_json::Value =
            serde_json::from_str(include_str!("../../examples/customer.json")).unwrap();
        body["customer"]["income"] = income.into();
        crate::schema::builtin().parse_applicant(&body["customer"]).expect("the example")
    }

    fn job(id: u64, reference: Option<Reference>) -> Job {
        Job { id, customer: customer(800_000), lang: Lang::En, reference }
    }

    #[test]
    fn a_batch_is_the_front_and_those_with_its_reference_up_to_a_block() {
        let mut waiting: VecDeque<Job> =
            (0..40).map(|i| job(i, if i % 3 == 1 { Some(Reference::Approved) } else { None })).collect();
        let batch = take_batch(&mut waiting);
        assert_eq!(batch.len(), BLOCK_ROWS);
        assert!(batch.iter().all(|j| j.reference.is_none()));
        assert!(batch.windows(2).all(|w| w[0].id < w[1].id), "in arrival order");
        // The others keep their order; the next batch starts with the oldest left.
        assert_eq!(waiting.len(), 40 - BLOCK_ROWS);
        assert_eq!(waiting[0].id, 1);
        assert!(waiting.iter().zip(waiting.iter().skip(1)).all(|(a, b)| a.id < b.id));
        let next = take_batch(&mut waiting);
        assert!(next.iter().all(|j| j.reference == Some(Reference::Approved)));
    }

    #[test]
    fn requests_waiting_while_every_core_is_busy_are_computed_as_one_batch_with_their_answers_alone() {
        let model = crate::serve::state::tests::small_model();
        let loaded = crate::serve::state::tests::loaded(&model, 1, "r");
        let customers: Vec<(Applicant, Lang)> = (0..5)
            .map(|i| (customer(300_000 + 250_000 * i), if i % 2 == 0 { Lang::Es } else { Lang::En }))
            .collect();
        let combiner = Combiner::new(1);
        // The one core is busy (a batch in flight) while the five requests arrive.
        combiner.lock().running = 1;
        let answers: Vec<Answer> = std::thread::scope(|s| {
            let handles: Vec<_> = customers
                .iter()
                .map(|(c, lang)| s.spawn(|| combiner.explain(&loaded, c.clone(), *lang, None).unwrap()))
                .collect();
            let start = std::time::Instant::now();
            while combiner.lock().waiting.len() < customers.len() {
                assert!(start.elapsed().as_secs() < 30, "the requests never queued");
                std::thread::yield_now();
            }
            combiner.lock().running = 0;
            combiner.changed.notify_all();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(loaded.metrics.explain_batches(), (1, 5), "one batch of five");
        for ((customer, lang), answer) in customers.iter().zip(&answers) {
            let options = ExplainOptions { lang: *lang, ..Default::default() };
            let alone = loaded.explainer.explain(customer, options).unwrap();
            assert_eq!(serde_json::to_value(answer).unwrap(), serde_json::to_value(&alone).unwrap());
        }
        assert!(combiner.lock().done.is_empty(), "every answer was collected");
    }
}
