//! Recourse in words, in Spanish or English, with the schema's labels and units: "Subir Ingreso
//! mensual de $500.000 a $650.000 y bajar Consultas de crédito recientes de 5 a 2: probabilidad
//! de aprobación 52% (umbral 50%)."

use super::Plan;
use crate::explain::{Lang, value_text};
use crate::schema::{Group, Kind, Schema};

/// A probability in percent with one decimal (50.04% reads 50.0%, not the threshold's 50%).
fn percent(p: f64, lang: Lang) -> String {
    let exact = (100.0 * p).fract() == 0.0;
    let text = if exact { format!("{:.0}", 100.0 * p) } else { format!("{:.1}", 100.0 * p) };
    if lang == Lang::Es { format!("{}%", text.replace('.', ",")) } else { format!("{text}%") }
}

/// One option's sentence.
pub fn option(
    schema: &Schema,
    before: &[f64],
    after: &[f64],
    moves: &[(usize, f64, f64)],
    probability: f64,
    approved: bool,
    lang: Lang,
) -> String {
    let es = lang == Lang::Es;
    let parts: Vec<String> = moves
        .iter()
        .enumerate()
        .map(|(k, &(i, to, _))| {
            let field = schema.field(i);
            let verb = match (&field.kind, to > before[i], es) {
                (Kind::Category(_), _, true) => "cambiar",
                (Kind::Category(_), _, false) => "change",
                (_, true, true) => "subir",
                (_, true, false) => "raise",
                (_, false, true) => "bajar",
                (_, false, false) => "lower",
            };
            let verb = if k == 0 { capitalize(verb) } else { verb.to_string() };
            let label = field.labels.get(es);
            let from = value_text(schema, Group::Field(i), before, lang);
            let to = value_text(schema, Group::Field(i), after, lang);
            if es {
                format!("{verb} {label} de {from} a {to}")
            } else {
                format!("{verb} {label} from {from} to {to}")
            }
        })
        .collect();
    let joined = join(&parts, if es { "y" } else { "and" });
    let outcome = match (approved, es) {
        (true, true) => "se aprobaría",
        (true, false) => "would be approved",
        (false, true) => "aún no se aprobaría",
        (false, false) => "still not approved",
    };
    if es {
        format!("{joined}: probabilidad de aprobación {}, {outcome}.", percent(probability, lang))
    } else {
        format!("{joined}: approval probability {}, {outcome}.", percent(probability, lang))
    }
}

/// The whole answer in a sentence or two.
pub fn summary(plan: &Plan, lang: Lang) -> String {
    let es = lang == Lang::Es;
    let (p, t) = (percent(plan.probability, lang), percent(plan.threshold, lang));
    let margin = format!("{:.0}", 100.0 * plan.margin.abs());
    if plan.approved {
        return if es {
            format!(
                "Aprobado con probabilidad {p} (umbral {t}, margen {margin} puntos): no hace falta ningún cambio."
            )
        } else {
            format!(
                "Approved with probability {p} (threshold {t}, margin {margin} points): no change is needed."
            )
        };
    }
    let n = plan.options.len();
    let fields = plan.max_changes;
    let mut out = match (n, es) {
        (0, true) if !plan.search.exhaustive => format!(
            "Denegado con probabilidad {p} (umbral {t}). La búsqueda llegó a su límite sin encontrar un cambio de a lo más {fields} {} que lleve a la aprobación.",
            if fields == 1 { "campo" } else { "campos" }
        ),
        (0, false) if !plan.search.exhaustive => format!(
            "Denied with probability {p} (threshold {t}). The search reached its limit without finding a change of at most {fields} {} that leads to approval.",
            if fields == 1 { "field" } else { "fields" }
        ),
        (0, true) => format!(
            "Denegado con probabilidad {p} (umbral {t}). Ningún cambio de a lo más {fields} {} realista, dentro de los rangos vistos en entrenamiento, lleva a la aprobación.",
            if fields == 1 { "campo" } else { "campos" }
        ),
        (0, false) => format!(
            "Denied with probability {p} (threshold {t}). No realistic change of at most {fields} {} within the ranges seen in training leads to approval.",
            if fields == 1 { "field" } else { "fields" }
        ),
        (1, true) => {
            format!("Denegado con probabilidad {p} (umbral {t}). Una opción llevaría a la aprobación.")
        }
        (1, false) => {
            format!("Denied with probability {p} (threshold {t}). One option would lead to approval.")
        }
        (n, true) => {
            format!("Denegado con probabilidad {p} (umbral {t}). {n} opciones llevarían a la aprobación.")
        }
        (n, false) => {
            format!("Denied with probability {p} (threshold {t}). {n} options would lead to approval.")
        }
    };
    if let (0, Some(c)) = (n, &plan.closest) {
        out.push_str(if es { " Lo más cercano: " } else { " The closest: " });
        out.push_str(&c.text);
    }
    if !plan.search.exhaustive && n > 0 {
        out.push_str(if es {
            " (La búsqueda llegó a su límite: puede haber opciones más baratas.)"
        } else {
            " (The search reached its limit: cheaper options may exist.)"
        });
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn join(parts: &[String], and: &str) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {and} {last}", rest.join(", ")),
    }
}
